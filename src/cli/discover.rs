//! `discover` (what the credentials see) and `check` (does the config match it).
use comfy_table::{ContentArrangement, Table, presets::UTF8_FULL_CONDENSED};
use serde::Serialize;
use uuid::Uuid;

use super::Failure;
use crate::{
    config::{BranchConfig, Config, MenuSource},
    iiko::{
        IikoClient, IikoError,
        types::dictionaries::{
            DiscountMode, OrderTypeServiceType, OrganizationIdsRequest, OrganizationsRequest,
            PaymentProcessingType, PaymentTypeKind, TerminalGroupsIsAliveRequest,
            TerminalGroupsRequest,
        },
    },
};

/// Everything the setup of a branch needs from iiko, gathered in one pass.
#[derive(Debug, Serialize)]
pub struct Discovery {
    pub organizations: Vec<Organization>,
    pub external_menus: Vec<Named>,
    pub price_categories: Vec<Named>,
}

#[derive(Debug, Serialize)]
pub struct Organization {
    pub id: Uuid,
    pub name: String,
    pub terminal_groups: Vec<TerminalGroup>,
    pub payment_types: Vec<PaymentType>,
    pub order_types: Vec<OrderType>,
    pub discounts: Vec<Discount>,
    pub cancel_causes: Vec<Named>,
}

#[derive(Debug, Serialize)]
pub struct TerminalGroup {
    pub id: Uuid,
    pub name: String,
    pub time_zone: Option<String>,
    pub in_sleep: bool,
    pub alive: Option<bool>,
}

#[derive(Debug, Serialize)]
pub struct PaymentType {
    pub id: Uuid,
    pub name: String,
    pub kind: String,
    pub processing: Option<String>,
    /// Empty means iiko did not restrict it to particular terminal groups.
    pub terminal_groups: Vec<Uuid>,
    pub deleted: bool,
    /// Can carry an already-paid online payment.
    pub external_processing: bool,
}

#[derive(Debug, Serialize)]
pub struct OrderType {
    pub id: Uuid,
    pub name: String,
    pub service_type: String,
    pub deleted: bool,
}

#[derive(Debug, Serialize)]
pub struct Discount {
    pub id: Uuid,
    pub name: String,
    pub mode: String,
    pub manual: bool,
    pub automatic: bool,
    pub deleted: bool,
    /// A manual free-sum type: the site's fixed-sum discount can be sent with it.
    pub universal: bool,
}

#[derive(Debug, Serialize)]
pub struct Named {
    pub id: String,
    pub name: String,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub deleted: bool,
}

impl Discovery {
    /// Reads every dictionary for the given organizations (all visible ones when `None`).
    pub async fn gather(
        client: &IikoClient,
        organization_ids: Option<Vec<Uuid>>,
    ) -> Result<Discovery, IikoError> {
        let organizations = client
            .organizations(&OrganizationsRequest {
                organization_ids,
                return_additional_info: false,
                include_disabled: false,
                return_external_data: None,
            })
            .await?
            .organizations;
        let ids: Vec<Uuid> = organizations.iter().map(|o| o.id).collect();
        if ids.is_empty() {
            let menus = client.external_menus().await?;
            return Ok(Discovery {
                organizations: Vec::new(),
                external_menus: named(menus.external_menus.iter().map(|m| (&m.id, &m.name))),
                price_categories: named(menus.price_categories.iter().map(|m| (&m.id, &m.name))),
            });
        }
        let by_org = OrganizationIdsRequest {
            organization_ids: ids.clone(),
        };
        // Groups not granted to the API login only show up with include_disabled, and a
        // config naming one of those deserves a clear answer rather than "not found".
        let groups_request = TerminalGroupsRequest {
            organization_ids: ids.clone(),
            include_disabled: Some(true),
            return_external_data: None,
        };
        let (groups, payment_types, order_types, discounts, cancel_causes, menus) = tokio::try_join!(
            client.terminal_groups(&groups_request),
            client.payment_types(&by_org),
            client.order_types(&by_org),
            client.discounts(&by_org),
            client.cancel_causes(&by_org),
            client.external_menus(),
        )?;
        let all_groups: Vec<Uuid> = groups
            .terminal_groups
            .iter()
            .chain(&groups.terminal_groups_in_sleep)
            .flat_map(|g| g.items.iter().map(|t| t.id))
            .collect();
        let alive = if all_groups.is_empty() {
            Vec::new()
        } else {
            client
                .terminal_groups_is_alive(&TerminalGroupsIsAliveRequest {
                    organization_ids: ids.clone(),
                    terminal_group_ids: all_groups,
                })
                .await?
                .is_alive_status
        };

        let alive = &alive;
        let organizations = organizations
            .into_iter()
            .map(|org| {
                let terminal_groups = [
                    (&groups.terminal_groups, false),
                    (&groups.terminal_groups_in_sleep, true),
                ]
                .into_iter()
                .flat_map(|(list, in_sleep)| {
                    list.iter()
                        .filter(|g| g.organization_id == org.id)
                        .flat_map(|g| &g.items)
                        .map(move |t| TerminalGroup {
                            id: t.id,
                            name: t.name.clone(),
                            time_zone: t.time_zone.clone(),
                            in_sleep,
                            alive: alive
                                .iter()
                                .find(|a| a.terminal_group_id == t.id)
                                .map(|a| a.is_alive),
                        })
                })
                .collect();
                Organization {
                    id: org.id,
                    name: org.name.unwrap_or_default(),
                    terminal_groups,
                    // Payment types and cancel causes are not grouped per organization: a
                    // type belongs to an organization through its terminal groups.
                    payment_types: payment_types
                        .payment_types
                        .iter()
                        .filter(|p| {
                            p.terminal_groups.is_empty()
                                || p.terminal_groups
                                    .iter()
                                    .any(|t| t.organization_id == org.id)
                        })
                        .filter_map(|p| {
                            Some(PaymentType {
                                id: p.id?,
                                name: p.name.clone().unwrap_or_default(),
                                kind: p
                                    .payment_type_kind
                                    .as_ref()
                                    .map_or("?", |k| k.as_str())
                                    .to_owned(),
                                processing: p
                                    .payment_processing_type
                                    .as_ref()
                                    .map(|k| k.as_str().to_owned()),
                                terminal_groups: p.terminal_groups.iter().map(|t| t.id).collect(),
                                deleted: p.is_deleted,
                                external_processing: matches!(
                                    p.payment_processing_type,
                                    Some(
                                        PaymentProcessingType::External
                                            | PaymentProcessingType::Both
                                    )
                                ),
                            })
                        })
                        .collect(),
                    order_types: order_types
                        .order_types
                        .iter()
                        .filter(|o| o.organization_id == org.id)
                        .flat_map(|o| &o.items)
                        .map(|o| OrderType {
                            id: o.id,
                            name: o.name.clone(),
                            service_type: o.order_service_type.as_str().to_owned(),
                            deleted: o.is_deleted,
                        })
                        .collect(),
                    discounts: discounts
                        .discounts
                        .iter()
                        .filter(|d| d.organization_id == org.id)
                        .flat_map(|d| &d.items)
                        .map(|d| Discount {
                            id: d.id,
                            name: d.name.clone().unwrap_or_default(),
                            mode: d.mode.as_str().to_owned(),
                            manual: d.is_manual,
                            automatic: d.is_automatic,
                            deleted: d.is_deleted,
                            universal: d.is_manual
                                && !d.is_automatic
                                && !d.is_deleted
                                && d.mode == DiscountMode::FlexibleSum,
                        })
                        .collect(),
                    cancel_causes: cancel_causes
                        .cancel_causes
                        .iter()
                        .map(|c| Named {
                            id: c.id.to_string(),
                            name: c.name.clone(),
                            deleted: c.is_deleted,
                        })
                        .collect(),
                }
            })
            .collect();
        Ok(Discovery {
            organizations,
            external_menus: named(menus.external_menus.iter().map(|m| (&m.id, &m.name))),
            price_categories: named(menus.price_categories.iter().map(|m| (&m.id, &m.name))),
        })
    }

    pub fn organization(&self, id: Uuid) -> Option<&Organization> {
        self.organizations.iter().find(|o| o.id == id)
    }
}

fn named<'a>(items: impl Iterator<Item = (&'a String, &'a String)>) -> Vec<Named> {
    items
        .map(|(id, name)| Named {
            id: id.clone(),
            name: name.clone(),
            deleted: false,
        })
        .collect()
}

pub async fn discover(client: &IikoClient, json: bool) -> Result<(), Failure> {
    let discovery = Discovery::gather(client, None).await?;
    if json {
        let text = serde_json::to_string_pretty(&discovery).map_err(anyhow::Error::from)?;
        println!("{text}");
    } else {
        print!("{}", render(&discovery));
    }
    Ok(())
}

/// The discovery as readable tables, one block per organization.
pub fn render(discovery: &Discovery) -> String {
    let mut out = String::new();
    if discovery.organizations.is_empty() {
        out.push_str("These credentials see no organizations.\n");
    }
    for org in &discovery.organizations {
        out.push_str(&format!("\nOrganization {} — {}\n", org.id, org.name));
        out.push_str(&section(
            "Terminal groups",
            ["id", "name", "time zone", "state"],
            org.terminal_groups.iter().map(|t| {
                let state = match (t.in_sleep, t.alive) {
                    (true, _) => "in sleep",
                    (false, Some(true)) => "alive",
                    (false, Some(false)) => "offline",
                    (false, None) => "unknown",
                };
                [
                    t.id.to_string(),
                    t.name.clone(),
                    t.time_zone.clone().unwrap_or_default(),
                    state.into(),
                ]
            }),
        ));
        out.push_str(&section(
            "Payment types",
            ["id", "name", "kind", "processing"],
            org.payment_types.iter().filter(|p| !p.deleted).map(|p| {
                [
                    p.id.to_string(),
                    p.name.clone(),
                    p.kind.clone(),
                    p.processing.clone().unwrap_or_default(),
                ]
            }),
        ));
        out.push_str(&section(
            "Order types",
            ["id", "name", "service type"],
            org.order_types
                .iter()
                .filter(|o| !o.deleted)
                .map(|o| [o.id.to_string(), o.name.clone(), o.service_type.clone()]),
        ));
        out.push_str(&section(
            "Discounts (* = usable as universal_discount_id)",
            ["id", "name", "mode", "applied"],
            org.discounts.iter().filter(|d| !d.deleted).map(|d| {
                let applied = if d.automatic {
                    "automatic"
                } else if d.manual {
                    "manual"
                } else {
                    ""
                };
                let name = if d.universal {
                    format!("{} *", d.name)
                } else {
                    d.name.clone()
                };
                [d.id.to_string(), name, d.mode.clone(), applied.into()]
            }),
        ));
        out.push_str(&section(
            "Cancel causes",
            ["id", "name"],
            org.cancel_causes
                .iter()
                .filter(|c| !c.deleted)
                .map(|c| [c.id.clone(), c.name.clone()]),
        ));
    }
    out.push_str(&section(
        "\nExternal menus",
        ["id", "name"],
        discovery
            .external_menus
            .iter()
            .map(|m| [m.id.clone(), m.name.clone()]),
    ));
    out.push_str(&section(
        "Price categories",
        ["id", "name"],
        discovery
            .price_categories
            .iter()
            .map(|m| [m.id.clone(), m.name.clone()]),
    ));
    out
}

fn section<const N: usize>(
    title: &str,
    header: [&str; N],
    rows: impl Iterator<Item = [String; N]>,
) -> String {
    let mut table = Table::new();
    table
        .load_preset(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(header);
    for row in rows {
        table.add_row(row);
    }
    if table.row_count() == 0 {
        format!("{title}: none\n")
    } else {
        format!("{title}\n{table}\n")
    }
}

pub async fn check(config: &Config, client: &IikoClient) -> Result<(), Failure> {
    let ready = readiness(config);
    let ids: Vec<Uuid> = config.branches.iter().map(|b| b.organization_id).collect();
    let discovery = Discovery::gather(client, Some(ids)).await?;
    let mut report = check_branches(config, &discovery);
    report
        .problems
        .splice(0..0, ready.refused.into_iter().chain(ready.undeliverable));
    report.warnings.splice(0..0, ready.warnings);
    for warning in &report.warnings {
        eprintln!("warning: {warning}");
    }
    if report.problems.is_empty() {
        println!(
            "ok: {} branch(es) match what iiko has",
            config.branches.len()
        );
        Ok(())
    } else {
        Err(Failure::Usage(report.problems.join("\n")))
    }
}

/// What `serve` would make of a loaded configuration, beyond what loading checks: `check`
/// reports all of it, so that a config `check` passes never fails to serve.
#[derive(Debug, Default)]
pub struct Readiness {
    /// `serve` refuses to start.
    pub refused: Vec<String>,
    /// `serve` starts, but some fallback order could never reach the channel named.
    pub undeliverable: Vec<String>,
    /// Legal, but worth a second look.
    pub warnings: Vec<String>,
}

pub fn readiness(config: &Config) -> Readiness {
    let mut ready = Readiness::default();
    if config.site.token.is_none() {
        ready
            .refused
            .push("site.token: required to serve the API".into());
    }
    if let Err(error) = crate::fallback::Templates::load(&config.templates.dir) {
        ready.refused.push(format!("templates.dir: {error}"));
    }
    if let Err(error) = crate::notify::Mailer::from_config(&config.email) {
        ready.refused.push(format!("email: {error}"));
    }
    for (i, branch) in config.branches.iter().enumerate() {
        let fallback = &branch.fallback;
        if !fallback.emails.is_empty() && config.email.smtp_url.is_none() {
            ready.undeliverable.push(format!(
                "branches[{i}].fallback.emails ({}): set, but email.smtp_url is not: fallback orders could never be e-mailed",
                branch.key
            ));
        }
        if !fallback.telegram_chats.is_empty() && config.telegram.bot_token.is_none() {
            ready.undeliverable.push(format!(
                "branches[{i}].fallback.telegram_chats ({}): set, but telegram.bot_token is not: fallback orders could never reach Telegram",
                branch.key
            ));
        }
        if fallback.emails.is_empty() && fallback.telegram_chats.is_empty() {
            ready.undeliverable.push(format!(
                "branches[{i}].fallback ({}): no e-mail and no Telegram chat: an order iiko does not take would reach nobody",
                branch.key
            ));
        }
    }
    if config.server.listen.ip().is_unspecified() {
        ready.warnings.push(format!(
            "server.listen {}: the API answers on every network interface; put it behind a TLS proxy or listen on 127.0.0.1",
            config.server.listen
        ));
    }
    if config.iiko_webhook.auth_token.is_none() {
        ready.warnings.push(
            "iiko_webhook.auth_token: not set, so iiko's webhook calls are refused and statuses come from polling only"
                .into(),
        );
    }
    if config.telegram.operator_chats.is_empty() {
        ready.warnings.push(
            "telegram.operator_chats: empty, so operator alerts (iiko unreachable, menu problems) reach nobody".into(),
        );
    }
    if config.telegram.bot_token.is_some() && config.telegram.operator_users.is_empty() {
        ready.warnings.push(
            "telegram.operator_users: empty, so nobody can act on orders from Telegram (the bot refuses everyone)".into(),
        );
    }
    ready
}

#[derive(Debug, Default)]
pub struct CheckReport {
    /// Ids that are wrong: the bridge cannot work with them.
    pub problems: Vec<String>,
    /// Things an operator should know that do not make the config wrong.
    pub warnings: Vec<String>,
}

/// Compares every id in the config with what iiko has.
pub fn check_branches(config: &Config, discovery: &Discovery) -> CheckReport {
    let mut report = CheckReport::default();
    for (i, branch) in config.branches.iter().enumerate() {
        check_branch(i, branch, discovery, &mut report);
    }
    report
}

fn check_branch(i: usize, branch: &BranchConfig, discovery: &Discovery, report: &mut CheckReport) {
    let mut problem = |field: &str, message: String| {
        report
            .problems
            .push(format!("branches[{i}].{field} ({}): {message}", branch.key));
    };
    let Some(org) = discovery.organization(branch.organization_id) else {
        problem(
            "organization_id",
            format!(
                "{}: not an organization these credentials can see",
                branch.organization_id
            ),
        );
        return;
    };
    // Without a valid terminal group, "not available in it" would only repeat the same problem.
    let terminal_group_known = org
        .terminal_groups
        .iter()
        .any(|t| t.id == branch.terminal_group_id);
    match org
        .terminal_groups
        .iter()
        .find(|t| t.id == branch.terminal_group_id)
    {
        None => problem(
            "terminal_group_id",
            format!(
                "{}: not a terminal group of organization {} ({})",
                branch.terminal_group_id, org.name, org.id
            ),
        ),
        Some(group) if group.in_sleep => report.warnings.push(format!(
            "branches[{i}] ({}): terminal group {} is in sleep mode",
            branch.key, group.name
        )),
        Some(group) if group.alive == Some(false) => report.warnings.push(format!(
            "branches[{i}] ({}): terminal group {} is not alive right now",
            branch.key, group.name
        )),
        Some(_) => {}
    }
    let payment = |field: &str,
                   id: Uuid,
                   kinds: &[PaymentTypeKind],
                   external: bool|
     -> Option<String> {
        let Some(p) = org.payment_types.iter().find(|p| p.id == id) else {
            return Some(format!(
                "{id}: no such payment type in organization {}",
                org.name
            ));
        };
        let kinds_text: Vec<&str> = kinds.iter().map(|k| k.as_str()).collect();
        if p.deleted {
            Some(format!("{id} ({}): deleted in iiko", p.name))
        } else if !kinds_text.contains(&p.kind.as_str()) {
            Some(format!(
                "{id} ({}): kind {} where {} is needed for {field}",
                p.name,
                p.kind,
                kinds_text.join(" or ")
            ))
        } else if external && !p.external_processing {
            Some(format!(
                "{id} ({}): does not allow external processing, so it cannot carry prepaid online payments",
                p.name
            ))
        } else if terminal_group_known
            && !p.terminal_groups.is_empty()
            && !p.terminal_groups.contains(&branch.terminal_group_id)
        {
            Some(format!(
                "{id} ({}): not available in terminal group {}",
                p.name, branch.terminal_group_id
            ))
        } else {
            None
        }
    };
    let types = &branch.payment_types;
    for (field, id, kinds, external) in [
        (
            "payment_types.cash",
            types.cash,
            &[PaymentTypeKind::Cash][..],
            false,
        ),
        (
            "payment_types.card",
            types.card,
            &[PaymentTypeKind::Card][..],
            false,
        ),
        (
            "payment_types.online",
            types.online,
            &[PaymentTypeKind::External, PaymentTypeKind::Card][..],
            true,
        ),
    ] {
        if let Some(message) = payment(field, id, kinds, external) {
            problem(field, message);
        }
    }
    if let Some(id) = branch.bonus.payment_type_id
        && let Some(message) = payment(
            "bonus.payment_type_id",
            id,
            &[PaymentTypeKind::IikoCard],
            false,
        )
    {
        problem("bonus.payment_type_id", message);
    }
    for (field, id, wanted) in [
        (
            "order_types.delivery",
            branch.order_types.delivery,
            OrderTypeServiceType::DeliveryByCourier,
        ),
        (
            "order_types.pickup",
            branch.order_types.pickup,
            OrderTypeServiceType::DeliveryPickUp,
        ),
    ] {
        let Some(id) = id else { continue };
        match org.order_types.iter().find(|o| o.id == id) {
            None => problem(
                field,
                format!("{id}: no such order type in organization {}", org.name),
            ),
            Some(o) if o.deleted => problem(field, format!("{id} ({}): deleted in iiko", o.name)),
            Some(o) if o.service_type != wanted.as_str() => problem(
                field,
                format!(
                    "{id} ({}): service type {} where {} is needed",
                    o.name,
                    o.service_type,
                    wanted.as_str()
                ),
            ),
            Some(_) => {}
        }
    }
    if let Some(id) = branch.universal_discount_id {
        match org.discounts.iter().find(|d| d.id == id) {
            None => problem(
                "universal_discount_id",
                format!("{id}: no such discount type in organization {}", org.name),
            ),
            Some(d) if !d.universal => problem(
                "universal_discount_id",
                format!(
                    "{id} ({}): not a manual free-sum discount (mode {}), so iiko would not take an assigned sum",
                    d.name, d.mode
                ),
            ),
            Some(_) => {}
        }
    }
    if let Some(id) = branch.cancel_cause_id {
        let id_text = id.to_string();
        match org.cancel_causes.iter().find(|c| c.id == id_text) {
            None => problem(
                "cancel_cause_id",
                format!("{id}: no such cancel cause in organization {}", org.name),
            ),
            Some(c) if c.deleted => problem(
                "cancel_cause_id",
                format!("{id} ({}): deleted in iiko", c.name),
            ),
            Some(_) => {}
        }
    }
    if branch.menu.source == MenuSource::ExternalMenu {
        if let Some(id) = &branch.menu.external_menu_id
            && !discovery.external_menus.iter().any(|m| &m.id == id)
        {
            problem(
                "menu.external_menu_id",
                format!("{id}: no such external menu"),
            );
        }
        if let Some(id) = &branch.menu.price_category_id
            && !discovery.price_categories.iter().any(|m| &m.id == id)
        {
            problem(
                "menu.price_category_id",
                format!("{id}: no such price category"),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Sources;

    fn config(edit: impl Fn(String) -> String) -> Config {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bridge.toml");
        let example = include_str!("../../config/bridge.example.toml").replace(
            "token = \"change-me\"",
            "token = \"a-token-of-the-unit-tests\"",
        );
        std::fs::write(&path, edit(example)).unwrap();
        Sources::load(&path).unwrap().config().unwrap()
    }

    #[test]
    fn readiness_names_what_serve_refuses_what_it_could_not_do_and_what_to_look_at() {
        let ready = readiness(&config(|t| {
            t.replace("token = \"a-token-of-the-unit-tests\"\n", "")
        }));
        assert_eq!(ready.refused, ["site.token: required to serve the API"]);
        assert!(
            ready.undeliverable[0].starts_with(
                "branches[0].fallback.emails (lenina): set, but email.smtp_url is not"
            ),
            "{:?}",
            ready.undeliverable
        );
        assert!(
            ready
                .warnings
                .iter()
                .any(|w| w.starts_with("server.listen 0.0.0.0:8080")),
            "{:?}",
            ready.warnings
        );

        let ready = readiness(&config(|t| {
            t.replace("emails = [\"orders@example.ru\"]", "emails = []")
                .replace("listen = \"0.0.0.0:8080\"", "listen = \"127.0.0.1:8080\"")
        }));
        assert!(ready.refused.is_empty(), "{:?}", ready.refused);
        assert!(
            ready.undeliverable[0].contains("no e-mail and no Telegram chat"),
            "{:?}",
            ready.undeliverable
        );
        assert!(
            !ready
                .warnings
                .iter()
                .any(|w| w.starts_with("server.listen"))
        );
    }

    #[test]
    fn a_bot_nobody_may_use_is_worth_a_warning() {
        let nobody = "telegram.operator_users: empty";
        let warned = |ready: Readiness| ready.warnings.iter().any(|w| w.starts_with(nobody));
        let bot = "# bot_token = \"123456:ABC...\"";
        assert!(warned(readiness(&config(
            |t| t.replace(bot, "bot_token = \"1:x\"")
        ))));
        assert!(!warned(readiness(&config(|t| {
            t.replace(bot, "bot_token = \"1:x\"")
                .replace("operator_users = []", "operator_users = [42]")
        }))));
        assert!(
            !warned(readiness(&config(|t| t.to_owned()))),
            "no bot, no warning"
        );
    }
}
