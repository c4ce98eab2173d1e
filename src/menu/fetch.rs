//! Reading a branch's menu from iiko: the endpoint its `menu.source` names, then the build.
use chrono::Utc;

use super::MenuError;
use super::build::{
    BuildTarget, Fetched, build_from_external_menu, build_from_menu_v3, build_from_nomenclature,
};
use super::stop_list::stop_list_of;
use crate::config::{BranchConfig, ExternalMenuApi, MenuSource};
use crate::iiko::IikoClient;
use crate::iiko::types::menu::{ExternalMenuRequest, MenuV3Request, NomenclatureRequest};
use crate::iiko::types::stop_lists::{StopListItem, StopListsRequest};

/// Fetches and builds a branch's catalog. `previous_revision` is the nomenclature revision of
/// the stored catalog: an unchanged nomenclature answers [`Fetched::Unchanged`]. External menus
/// are always read whole.
pub async fn fetch_catalog(
    client: &IikoClient,
    branch: &BranchConfig,
    previous_revision: Option<i64>,
) -> Result<Fetched, MenuError> {
    let target = BuildTarget {
        branch: branch.key.clone(),
        organization_id: branch.organization_id,
        synced_at: Utc::now(),
    };
    if branch.menu.source == MenuSource::Nomenclature {
        let request = NomenclatureRequest {
            organization_id: branch.organization_id,
            start_revision: previous_revision,
        };
        let response = client.nomenclature(&request).await?;
        return build_from_nomenclature(&response, previous_revision, &target);
    }
    let external_menu_id = branch
        .menu
        .external_menu_id
        .clone()
        .ok_or_else(|| MenuError::NoExternalMenuId(branch.key.clone()))?;
    let price_category_id = branch.menu.price_category_id.clone();
    let version = match branch.menu.api {
        ExternalMenuApi::V2 => 2,
        ExternalMenuApi::V3 => 3,
        ExternalMenuApi::V4 => 4,
        ExternalMenuApi::MenuV3 => {
            let request = MenuV3Request {
                external_menu_id,
                organization_id: branch.organization_id,
                price_category_id,
            };
            let menu = client.menu_v3_by_id(&request).await?;
            return Ok(Fetched::Built(Box::new(build_from_menu_v3(
                &menu, &target,
            )?)));
        }
    };
    let request = ExternalMenuRequest {
        external_menu_id,
        organization_ids: vec![branch.organization_id],
        price_category_id,
        version: Some(version),
        language: None,
        start_revision: None,
        async_mode: false,
    };
    let menu = client.external_menu_by_id(&request).await?;
    Ok(Fetched::Built(Box::new(build_from_external_menu(
        &menu, &target,
    )?)))
}

/// The stop list of the branch's terminal group, for [`apply_stop_list`](super::apply_stop_list).
pub async fn fetch_stop_list(
    client: &IikoClient,
    branch: &BranchConfig,
) -> Result<Vec<StopListItem>, MenuError> {
    let request = StopListsRequest {
        organization_ids: vec![branch.organization_id],
        return_size: true,
        terminal_groups_ids: Some(vec![branch.terminal_group_id]),
    };
    let response = client.stop_lists(&request).await?;
    Ok(stop_list_of(&response, branch.terminal_group_id))
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};
    use std::num::NonZeroU32;
    use std::time::Duration;

    use rust_decimal::Decimal;
    use secrecy::SecretString;
    use serde_json::json;
    use uuid::Uuid;

    use super::*;
    use crate::config::{Credentials, IikoSettings};
    use crate::menu::{Built, Catalog, Finding, apply_stop_list};
    use crate::sim::demo_ids as ids;
    use crate::sim::{Seed, SimConfig, SimHandle, Simulator};

    async fn simulator(config: SimConfig) -> (SimHandle, IikoClient) {
        let handle = Simulator::spawn(config).await.unwrap();
        let client = IikoClient::new(IikoSettings {
            base_url: handle.base_url.clone(),
            credentials: Credentials::ApiLogin(SecretString::from(ids::API_LOGIN)),
            timeout: Duration::from_secs(15),
            requests_per_second: NonZeroU32::new(1000).unwrap(),
        })
        .unwrap();
        (handle, client)
    }

    fn branch(organization: Uuid, source: &str, price_category: Option<&str>) -> BranchConfig {
        let external_menu_id = (source == "external_menu").then_some(ids::EXTERNAL_MENU_ID);
        serde_json::from_value(json!({
            "key": "lenina", "name": "Ленина", "organization_id": organization,
            "terminal_group_id": ids::TG_LENINA, "timezone": "Europe/Moscow",
            "menu": {"source": source, "external_menu_id": external_menu_id,
                     "price_category_id": price_category},
            "payment_types": {"cash": ids::PAYMENT_CASH, "card": ids::PAYMENT_CARD,
                              "online": ids::PAYMENT_ONLINE},
        }))
        .unwrap()
    }

    async fn fetch(client: &IikoClient, branch: &BranchConfig, api: ExternalMenuApi) -> Built {
        let mut branch = branch.clone();
        branch.menu.api = api;
        match fetch_catalog(client, &branch, None).await.unwrap() {
            Fetched::Built(built) => *built,
            Fetched::Unchanged { revision } => panic!("unchanged at {revision}"),
        }
    }

    /// (product article, size name) -> price, and (product article, modifier article) -> price.
    type Prices = (
        BTreeMap<(String, Option<String>), Decimal>,
        BTreeMap<(String, String), Decimal>,
    );

    fn prices_of(catalog: &Catalog, articles: &BTreeSet<String>) -> Prices {
        let mut sizes = BTreeMap::new();
        let mut modifiers = BTreeMap::new();
        for product in catalog
            .products
            .iter()
            .filter(|p| articles.contains(&p.article))
        {
            for size in &product.sizes {
                sizes.insert((product.article.clone(), size.name.clone()), size.price);
            }
            for item in product.modifier_groups.iter().flat_map(|g| &g.items) {
                modifiers.insert((product.article.clone(), item.article.clone()), item.price);
            }
        }
        (sizes, modifiers)
    }

    #[tokio::test]
    async fn every_menu_format_from_the_simulator_yields_the_same_articles_and_prices() {
        let (handle, client) = simulator(SimConfig::default()).await;
        let seed = handle.sim.seed();
        let external = branch(ids::ORG_LENINA, "external_menu", None);
        let v2 = fetch(&client, &external, ExternalMenuApi::V2).await;

        let expected: BTreeSet<String> = seed.products.iter().map(|p| p.sku.clone()).collect();
        let built: BTreeSet<String> = v2
            .catalog
            .products
            .iter()
            .map(|p| p.article.clone())
            .collect();
        assert_eq!(built, expected);
        assert!(!v2.report.has_problems(), "{}", v2.report.summary());
        // Hidden products are flagged in the external menu; the nomenclature has no such flag
        // (they are simply not in its menu), so compare what is on sale everywhere.
        let visible: BTreeSet<String> = seed
            .products
            .iter()
            .filter(|p| !p.hidden)
            .map(|p| p.sku.clone())
            .collect();
        let reference = prices_of(&v2.catalog, &visible);
        assert_eq!(
            reference.0.len(),
            seed.products
                .iter()
                .filter(|p| !p.hidden)
                .map(|p| p.sizes.len().max(1))
                .sum::<usize>()
        );
        assert!(!reference.1.is_empty());

        for api in [
            ExternalMenuApi::V3,
            ExternalMenuApi::V4,
            ExternalMenuApi::MenuV3,
        ] {
            let other = fetch(&client, &external, api).await;
            assert_eq!(prices_of(&other.catalog, &visible), reference, "{api:?}");
            assert!(
                !other.report.has_problems(),
                "{api:?}: {}",
                other.report.summary()
            );
        }
        let nomenclature = fetch(
            &client,
            &branch(ids::ORG_LENINA, "nomenclature", None),
            ExternalMenuApi::default(),
        )
        .await;
        assert_eq!(prices_of(&nomenclature.catalog, &visible), reference);
        assert!(
            !nomenclature.report.has_problems(),
            "{}",
            nomenclature.report.summary()
        );
    }

    #[tokio::test]
    async fn the_external_menu_catalog_carries_the_seed_prices_size_articles_and_iiko_ids() {
        let (handle, client) = simulator(SimConfig::default()).await;
        let seed = handle.sim.seed();
        let built = fetch(
            &client,
            &branch(ids::ORG_LENINA, "external_menu", None),
            ExternalMenuApi::V4,
        )
        .await;
        let sized = seed.products.iter().find(|p| p.sizes.len() > 1).unwrap();
        let product = built.catalog.product(&sized.sku).unwrap();
        assert_eq!(product.iiko_id, sized.id);
        for (size, expected) in product.sizes.iter().zip(&sized.sizes) {
            assert_eq!(size.article.as_deref(), Some(expected.sku.as_str()));
            assert_eq!(size.iiko_id, Some(expected.size_id));
            assert_eq!(size.price, expected.price);
        }
        assert_eq!(product.sizes.iter().filter(|s| s.default).count(), 1);
        let group = &product.modifier_groups[0];
        let seed_group = seed
            .modifier_groups
            .iter()
            .find(|g| g.id == sized.modifier_groups[0])
            .unwrap();
        assert_eq!(group.iiko_id, Some(seed_group.id));
        assert_eq!(
            (group.min, group.max, group.required),
            (seed_group.min, seed_group.max, seed_group.required)
        );
        assert_eq!(group.items[0].iiko_id, seed_group.items[0].id);

        let single = seed.products.iter().find(|p| p.sizes.is_empty()).unwrap();
        let product = built.catalog.product(&single.sku).unwrap();
        assert_eq!(product.sizes.len(), 1);
        assert_eq!(
            product.sizes[0].article, None,
            "a single size goes by the product's article"
        );
        assert_eq!(product.sizes[0].iiko_id, None);
        assert_eq!(product.sizes[0].price, single.price);
        assert!(product.sizes[0].default);

        let hidden = seed.products.iter().find(|p| p.hidden).unwrap();
        assert!(built.catalog.product(&hidden.sku).unwrap().hidden);
    }

    #[tokio::test]
    async fn a_price_category_gives_its_own_prices() {
        let (handle, client) = simulator(SimConfig::default()).await;
        let seed = handle.sim.seed();
        let aggregators = branch(
            ids::ORG_LENINA,
            "external_menu",
            Some(ids::PRICE_CATEGORY_AGGREGATORS),
        );
        for api in [ExternalMenuApi::V2, ExternalMenuApi::MenuV3] {
            let built = fetch(&client, &aggregators, api).await;
            let single = seed.products.iter().find(|p| p.sizes.is_empty()).unwrap();
            let expected =
                seed.price_in_category(single.price, Some(ids::PRICE_CATEGORY_AGGREGATORS));
            assert_ne!(expected, single.price);
            assert_eq!(
                built.catalog.product(&single.sku).unwrap().sizes[0].price,
                expected,
                "{api:?}"
            );
        }
    }

    #[tokio::test]
    async fn products_not_sold_in_the_branch_organization_are_left_out_and_noted() {
        let (handle, client) = simulator(SimConfig::default()).await;
        let seed = handle.sim.seed();
        let not_sold: Vec<&str> = seed
            .products
            .iter()
            .filter(|p| p.not_sold_in.contains(&ids::ORG_MIRA))
            .map(|p| p.sku.as_str())
            .collect();
        assert!(!not_sold.is_empty());
        for (source, api) in [
            ("external_menu", ExternalMenuApi::V3),
            ("external_menu", ExternalMenuApi::MenuV3),
            ("nomenclature", ExternalMenuApi::V2),
        ] {
            let built = fetch(&client, &branch(ids::ORG_MIRA, source, None), api).await;
            for article in &not_sold {
                assert!(
                    built.catalog.product(article).is_none(),
                    "{api:?}: {article}"
                );
                assert!(
                    built.report.findings.iter().any(|f| matches!(f,
                    Finding::NotForSale { article: Some(a), .. } if a == article)),
                    "{source} {api:?}: {article}"
                );
            }
            assert!(
                !built.report.has_problems(),
                "not for sale is a note, not a problem"
            );
        }
    }

    #[tokio::test]
    async fn an_unchanged_nomenclature_revision_is_reported_as_unchanged() {
        let (_handle, client) = simulator(SimConfig::default()).await;
        let nomenclature = branch(ids::ORG_LENINA, "nomenclature", None);
        let first = fetch(&client, &nomenclature, ExternalMenuApi::default()).await;
        let revision = first.catalog.iiko_revision.unwrap();
        assert!(!first.catalog.products.is_empty());
        let again = fetch_catalog(&client, &nomenclature, Some(revision))
            .await
            .unwrap();
        assert_eq!(again, Fetched::Unchanged { revision });
    }

    #[tokio::test]
    async fn the_branch_stop_list_makes_its_products_unavailable() {
        let (handle, client) = simulator(SimConfig::default()).await;
        let seed = handle.sim.seed();
        let lenina = branch(ids::ORG_LENINA, "external_menu", None);
        let built = fetch(&client, &lenina, ExternalMenuApi::V2).await;
        let stop_list = fetch_stop_list(&client, &lenina).await.unwrap();
        assert_eq!(stop_list.len(), seed.stop_list.len());
        let catalog = apply_stop_list(built.catalog, &stop_list);
        for entry in &seed.stop_list {
            let product = catalog
                .products
                .iter()
                .find(|p| p.iiko_id == entry.product_id)
                .unwrap();
            let size = product
                .sizes
                .iter()
                .find(|s| s.iiko_id == entry.size_id)
                .unwrap();
            assert!(!size.available, "{}", product.article);
        }
        let stopped = catalog
            .products
            .iter()
            .filter(|p| p.sizes.iter().any(|s| !s.available))
            .count();
        assert_eq!(stopped, seed.stop_list.len());
    }

    #[tokio::test]
    async fn duplicated_and_missing_articles_in_the_simulator_are_left_out_and_reported() {
        let mut seed = Seed::generate(50, 7);
        let twin_article = seed.products[0].sku.clone();
        seed.products[1].sku = twin_article.clone();
        seed.products[2].sku = String::new();
        let (first, second, blank) = (
            seed.products[0].id,
            seed.products[1].id,
            seed.products[2].id,
        );
        let hidden = seed.products[3..].iter().filter(|p| p.hidden).count();
        let file = tempfile::NamedTempFile::new().unwrap();
        seed.save(file.path()).unwrap();
        let (_handle, client) = simulator(SimConfig {
            seed: Some(file.path().to_path_buf()),
            ..SimConfig::default()
        })
        .await;
        for (source, api) in [
            ("external_menu", ExternalMenuApi::V2),
            ("external_menu", ExternalMenuApi::MenuV3),
            ("nomenclature", ExternalMenuApi::V2),
        ] {
            let built = fetch(&client, &branch(ids::ORG_LENINA, source, None), api).await;
            let ids_in_catalog: Vec<Uuid> =
                built.catalog.products.iter().map(|p| p.iiko_id).collect();
            assert!(
                !ids_in_catalog.contains(&first)
                    && !ids_in_catalog.contains(&second)
                    && !ids_in_catalog.contains(&blank)
            );
            // The nomenclature has hidden products out of its menu altogether.
            let out_of_menu = if source == "nomenclature" { hidden } else { 0 };
            assert_eq!(
                built.catalog.products.len(),
                47 - out_of_menu,
                "{source} {api:?}"
            );
            assert!(built.report.has_problems());
            let duplicate = built.report.findings.iter().find_map(|f| match f {
                Finding::DuplicateArticle { article, items } => Some((article, items.len())),
                _ => None,
            });
            assert_eq!(duplicate, Some((&twin_article, 2)), "{source} {api:?}");
            assert!(built.report.findings.iter().any(|f| matches!(f,
                Finding::MissingArticle { item: crate::menu::ItemRef::Product { product_id, .. } } if *product_id == blank)));
        }
    }

    #[tokio::test]
    async fn an_answer_with_null_where_the_schema_promises_a_value_is_an_error() {
        let mut server = mockito::Server::new_async().await;
        server
            .mock("POST", "/api/1/access_token")
            .with_body(r#"{"correlationId":"0b9f6c5e-93c1-4ad1-9f8e-2a5e7d6c1b00","token":"t"}"#)
            .create_async()
            .await;
        server
            .mock("POST", "/api/1/nomenclature")
            .with_body(r#"{"correlationId":"0b9f6c5e-93c1-4ad1-9f8e-2a5e7d6c1b00","revision":5,
                "groups":[],"productCategories":[],"sizes":[],"products":[{"id":"00000000-0000-0000-0000-000000000101",
                "code":"PZ-1","name":"Маргарита","sizePrices":[{"sizeId":null,"price":{"currentPrice":null,
                "isIncludedInMenu":true,"nextIncludedInMenu":false}}]}]}"#)
            .create_async()
            .await;
        let client = IikoClient::new(IikoSettings {
            base_url: server.url().parse().unwrap(),
            credentials: Credentials::ApiLogin(SecretString::from("login")),
            timeout: Duration::from_secs(15),
            requests_per_second: NonZeroU32::new(1000).unwrap(),
        })
        .unwrap();
        let nomenclature = branch(ids::ORG_LENINA, "nomenclature", None);
        let error = fetch_catalog(&client, &nomenclature, None)
            .await
            .unwrap_err();
        assert!(
            matches!(&error, MenuError::Iiko(crate::iiko::IikoError::Decode { path, .. }) if path == "/api/1/nomenclature"),
            "{error}"
        );
    }

    #[tokio::test]
    async fn an_external_menu_branch_without_a_menu_id_is_an_error() {
        let (_handle, client) = simulator(SimConfig::default()).await;
        let mut external = branch(ids::ORG_LENINA, "external_menu", None);
        external.menu.external_menu_id = None;
        external.menu.api = ExternalMenuApi::V2;
        let error = fetch_catalog(&client, &external, None).await.unwrap_err();
        assert!(matches!(error, MenuError::NoExternalMenuId(key) if key == "lenina"));
    }
}
