//! The integration suite again, every test's store on PostgreSQL (`support::store`): the
//! modules whose tests keep a store, compiled a second time (the simulator's, the mapping's and
//! the schemas' own tests have no store to change). Without `IIKO_BRIDGE_TEST_DATABASE_URL`
//! each test says it was skipped, in one line, and passes; `.ci/run` always sets it.
#[path = "../api/bot.rs"]
mod bot;
#[path = "../api/bot_answers.rs"]
mod bot_answers;
#[path = "../api/cli.rs"]
mod cli;
#[path = "../api/duties.rs"]
mod duties;
#[path = "../api/events.rs"]
mod events;
#[path = "../api/examples.rs"]
mod examples;
#[path = "../api/fallback.rs"]
mod fallback;
#[path = "../api/http_edge.rs"]
mod http_edge;
#[path = "../api/loyalty.rs"]
mod loyalty;
#[path = "../api/menu.rs"]
mod menu;
#[path = "../api/notify.rs"]
mod notify;
#[path = "../api/orders.rs"]
mod orders;
#[path = "../api/reconcile.rs"]
mod reconcile;
#[path = "../api/status.rs"]
mod status;
// Some helpers serve only the modules left out here.
#[allow(dead_code)]
#[path = "../api/support/mod.rs"]
mod support;
