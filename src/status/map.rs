//! iiko's delivery statuses as the site sees them: each branch's `status_map`, over a default.
use super::apply::{Creation, DeliveryReport, Placed};
use crate::config::{BranchConfig, Config};
use crate::iiko::types::deliveries::OrderInfo;
use crate::orders::follow::creation_error_is_transient;

/// The site status of each iiko DeliveryStatus when the branch's `status_map` does not name it.
pub const DEFAULT_STATUS_MAP: &[(&str, &str)] = &[
    ("Unconfirmed", "accepted"),
    ("WaitCooking", "accepted"),
    ("ReadyForCooking", "accepted"),
    ("CookingStarted", "cooking"),
    ("CookingCompleted", "cooking"),
    ("Waiting", "ready"),
    ("OnWay", "on_the_way"),
    ("Delivered", "delivered"),
    ("Closed", "completed"),
    ("Cancelled", "cancelled"),
];

/// The site status for `iiko_status` in `branch`. A status iiko adds later (not in the default
/// map) reaches the site in snake_case rather than being lost.
pub fn site_status(branch: Option<&BranchConfig>, iiko_status: &str) -> String {
    if let Some(mapped) = branch.and_then(|b| b.status_map.get(iiko_status)) {
        return mapped.clone();
    }
    DEFAULT_STATUS_MAP
        .iter()
        .find(|(iiko, _)| *iiko == iiko_status)
        .map(|(_, site)| (*site).to_owned())
        .unwrap_or_else(|| snake_case(iiko_status))
}

/// `site_status` over every branch of `config`, in the shape the store asks for.
pub fn mapper(config: &Config) -> impl Fn(&str, &str) -> String + Sync + '_ {
    move |branch, status| site_status(config.branch(branch), status)
}

fn snake_case(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 4);
    for (i, c) in text.chars().enumerate() {
        if c.is_uppercase() && i > 0 {
            out.push('_');
        }
        out.extend(c.to_lowercase());
    }
    out
}

/// What the store needs of iiko's `OrderInfo` (a webhook's or a reader's).
pub fn report_of(info: &OrderInfo) -> DeliveryReport {
    use crate::iiko::types::deliveries::CreationStatus;
    let creation = match (&info.creation_status, &info.order) {
        (CreationStatus::Success, Some(order)) => Creation::Placed(Placed {
            number: order.number,
            status: order.status.to_string(),
            cancel_reason: order.cancel_info.as_ref().map(|cancel| {
                let cause = cancel.cause.as_ref().and_then(|c| c.name.clone());
                match (cause, &cancel.comment) {
                    (Some(cause), Some(comment)) => format!("{cause}: {comment}"),
                    (Some(cause), None) => cause,
                    (None, Some(comment)) => comment.clone(),
                    (None, None) => "отменён в iiko".into(),
                }
            }),
            moved_to: order.moved_to_delivery_id.map(|id| {
                let organization = order
                    .moved_to_organization_id
                    .unwrap_or(info.organization_id);
                (id.to_string(), organization.to_string())
            }),
            moved_from: order.moved_from_delivery_id.map(|id| id.to_string()),
        }),
        (CreationStatus::Error, _) => {
            let code = info.error_info.as_ref().map(|e| e.code.to_string());
            let message = info
                .error_info
                .as_ref()
                .and_then(|e| e.message.clone().or_else(|| e.description.clone()))
                .unwrap_or_default();
            Creation::Failed {
                transient: creation_error_is_transient(code.as_deref().unwrap_or(""), &message),
                message: format!("{}: {message}", code.as_deref().unwrap_or("Error")),
                code,
            }
        }
        _ => Creation::InProgress,
    };
    DeliveryReport {
        delivery_id: info.id.to_string(),
        organization_id: info.organization_id.to_string(),
        timestamp: info.timestamp,
        creation,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_branch_map_wins_and_unmapped_statuses_fall_back_to_the_default_map() {
        let mut branch = crate::orders::test_support::config().branches[0].clone();
        branch.status_map.insert("Waiting".into(), "packed".into());
        assert_eq!(site_status(Some(&branch), "Waiting"), "packed");
        assert_eq!(site_status(Some(&branch), "OnWay"), "on_the_way");
        assert_eq!(site_status(None, "Closed"), "completed");
        assert_eq!(site_status(None, "ServedByDrone"), "served_by_drone");
    }
}
