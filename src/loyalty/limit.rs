//! The money rules of bonus points and promo codes, free of iiko calls.
use rust_decimal::{Decimal, RoundingStrategy};

use crate::iiko::types::deliveries::{CreateDeliveryRequest, Discount};

/// The three sources of the most bonus points a cart may take (REFERENCE §10.2).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BonusLimit {
    /// `bonus.limit_percent` of the items less the discount, already rounded down to kopecks.
    pub percent: Decimal,
    /// The guest's bonus wallet; `None` when iiko could not be asked.
    pub balance: Option<Decimal>,
    /// iiko's `availablePayments` limit for this cart; `None` when iiko gave none or could not be asked.
    pub iiko: Option<Decimal>,
}

impl BonusLimit {
    /// `bonus_max`: the smallest known limit, never negative, rounded down to kopecks.
    pub fn max(&self) -> Decimal {
        [Some(self.percent), self.balance, self.iiko]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or_default()
            .max(Decimal::ZERO)
            .round_dp_with_strategy(2, RoundingStrategy::ToZero)
    }

    /// Each known limit, for a message that says which one binds.
    pub fn explain(&self, percent_rule: Decimal) -> String {
        let mut parts = Vec::new();
        if let Some(balance) = self.balance {
            parts.push(format!("balance {balance:.2}"));
        }
        if let Some(iiko) = self.iiko {
            parts.push(format!("iiko's limit {iiko:.2}"));
        }
        parts.push(format!("{percent_rule}% of the order {:.2}", self.percent));
        parts.join(", ")
    }
}

/// Why a promo code cannot go to iiko as a coupon beside the site's discount.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "iiko's loyalty gives {iiko:.2} for this cart with the code, more than the order's discount {site:.2}"
)]
pub struct CouponOverDiscount {
    pub iiko: Decimal,
    pub site: Decimal,
}

/// Sends `coupon` to iiko (`loyaltyInfo.coupon`) and lowers the universal discount by
/// `iiko_discount`, the discount iiko's loyalty programs apply for the coupon themselves, so
/// iiko's bill still equals the site's: universal + iiko's = the site's discount.
pub fn settle_coupon(
    request: &mut CreateDeliveryRequest,
    coupon: &str,
    iiko_discount: Decimal,
) -> Result<(), CouponOverDiscount> {
    let order = &mut request.order;
    let info = order.discounts_info.get_or_insert_with(Default::default);
    let universal = info.discounts.iter_mut().find_map(|d| match d {
        Discount::Rms(rms) => Some(rms),
        Discount::IikoCard(_) => None,
    });
    let site = universal
        .as_ref()
        .and_then(|rms| rms.sum)
        .unwrap_or_default();
    if iiko_discount > site {
        return Err(CouponOverDiscount {
            iiko: iiko_discount,
            site,
        });
    }
    match universal {
        Some(rms) if iiko_discount < site => rms.sum = Some(site - iiko_discount),
        // iiko's coupon gives the whole discount: no universal discount of zero is sent.
        _ => info.discounts.retain(|d| !matches!(d, Discount::Rms(_))),
    }
    if info.discounts.is_empty() && info.card.is_none() {
        order.discounts_info = None;
    }
    order
        .loyalty_info
        .get_or_insert_with(Default::default)
        .coupon = Some(coupon.to_owned());
    Ok(())
}

/// Takes the coupon out of the request: the code is then only in the comment for staff.
pub fn drop_coupon(request: &mut CreateDeliveryRequest) {
    request.order.loyalty_info = None;
}

#[cfg(test)]
mod tests {
    use rust_decimal_macros::dec;
    use uuid::Uuid;

    use super::*;
    use crate::iiko::types::deliveries::{DeliveryOrder, DiscountsInfo, LoyaltyInfo, RmsDiscount};

    fn limit(percent: Decimal, balance: Option<Decimal>, iiko: Option<Decimal>) -> Decimal {
        BonusLimit {
            percent,
            balance,
            iiko,
        }
        .max()
    }

    #[test]
    fn bonus_max_is_the_smallest_of_balance_iiko_and_percent() {
        assert_eq!(
            limit(dec!(500), Some(dec!(300)), Some(dec!(400))),
            dec!(300)
        );
        assert_eq!(
            limit(dec!(500), Some(dec!(1500)), Some(dec!(400))),
            dec!(400)
        );
        assert_eq!(
            limit(dec!(250), Some(dec!(1500)), Some(dec!(400))),
            dec!(250)
        );
        // Without iiko's answer only the percent rule is known.
        assert_eq!(limit(dec!(250), None, None), dec!(250));
        assert_eq!(limit(dec!(250), Some(dec!(0)), None), dec!(0));
        assert_eq!(limit(dec!(250), Some(dec!(-3)), None), dec!(0));
        assert_eq!(limit(dec!(250), Some(dec!(100.999)), None), dec!(100.99));
    }

    fn request(universal: Option<Decimal>) -> CreateDeliveryRequest {
        CreateDeliveryRequest {
            organization_id: Uuid::nil(),
            terminal_group_id: None,
            create_order_settings: None,
            order: DeliveryOrder {
                phone: "+79990001122".into(),
                discounts_info: universal.map(|sum| DiscountsInfo {
                    discounts: vec![Discount::Rms(RmsDiscount {
                        discount_type_id: Uuid::nil(),
                        sum: Some(sum),
                        selective_positions: None,
                    })],
                    ..Default::default()
                }),
                loyalty_info: Some(LoyaltyInfo {
                    coupon: Some("SIM-100".into()),
                    ..Default::default()
                }),
                ..Default::default()
            },
        }
    }

    fn universal(request: &CreateDeliveryRequest) -> Option<Decimal> {
        let info = request.order.discounts_info.as_ref()?;
        info.discounts.iter().find_map(|d| match d {
            Discount::Rms(rms) => rms.sum,
            Discount::IikoCard(_) => None,
        })
    }

    #[test]
    fn a_coupon_lowers_the_universal_discount_by_what_iiko_gives_for_it() {
        let mut partly = request(Some(dec!(150)));
        settle_coupon(&mut partly, "SIM-100", dec!(100)).unwrap();
        assert_eq!(universal(&partly), Some(dec!(50)));
        assert_eq!(
            partly.order.loyalty_info.unwrap().coupon.as_deref(),
            Some("SIM-100")
        );

        let mut wholly = request(Some(dec!(100)));
        settle_coupon(&mut wholly, "SIM-100", dec!(100)).unwrap();
        assert_eq!(wholly.order.discounts_info, None);

        let mut nothing = request(Some(dec!(0.01)));
        settle_coupon(&mut nothing, "SITE-CODE", dec!(0)).unwrap();
        assert_eq!(universal(&nothing), Some(dec!(0.01)));

        let mut over = request(Some(dec!(99.99)));
        assert_eq!(
            settle_coupon(&mut over, "SIM-100", dec!(100)),
            Err(CouponOverDiscount {
                iiko: dec!(100),
                site: dec!(99.99)
            })
        );
        assert_eq!(
            settle_coupon(&mut request(None), "SIM-100", dec!(0.01))
                .unwrap_err()
                .site,
            dec!(0)
        );
    }

    #[test]
    fn dropping_the_coupon_keeps_the_universal_discount() {
        let mut request = request(Some(dec!(100)));
        drop_coupon(&mut request);
        assert_eq!(request.order.loyalty_info, None);
        assert_eq!(universal(&request), Some(dec!(100)));
    }
}
