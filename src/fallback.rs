//! The fallback: an order iiko did not take goes to the branch's staff by e-mail and Telegram,
//! in a form they can type into iikoFront, with the reason.
//!
//! Templates: the defaults in `templates/` are compiled into the binary, so the fallback works
//! from any working directory and without the folder; a file of the same name in the
//! directory given to [`Templates::load`] (the Docker image's `/etc/iiko-bridge/templates`)
//! replaces its default. Templates render with strict undefined values: a misspelt field in an
//! edited template is an error, and that message is then rendered from the default instead,
//! so staff never get a silently incomplete order.
mod handover;
mod view;
mod worker;

use std::path::Path;

use minijinja::{AutoEscape, Environment, UndefinedBehavior, Value};

use crate::config::BranchConfig;
use crate::menu::Catalog;
use crate::notify::html;
use crate::orders::Order;

pub use handover::Handover;
pub use view::rubles;
pub use worker::{ATTEMPTS_BEFORE_ALERT, FallbackWorker, StepReport, enqueue_fallback};

const SUBJECT: &str = "fallback_email_subject.txt.j2";
const EMAIL_TEXT: &str = "fallback_email.txt.j2";
const EMAIL_HTML: &str = "fallback_email.html.j2";
const TELEGRAM: &str = "fallback_telegram.html.j2";

/// The defaults, compiled in.
const EMBEDDED: [(&str, &str); 4] = [
    (
        SUBJECT,
        include_str!("../templates/fallback_email_subject.txt.j2"),
    ),
    (
        EMAIL_TEXT,
        include_str!("../templates/fallback_email.txt.j2"),
    ),
    (
        EMAIL_HTML,
        include_str!("../templates/fallback_email.html.j2"),
    ),
    (
        TELEGRAM,
        include_str!("../templates/fallback_telegram.html.j2"),
    ),
];

/// Telegram's HTML mode knows only `<`, `>` and `&`; HTML escaping of `'` and `/` would show
/// up as numeric entities in raw text and in what staff copy.
const TELEGRAM_ESCAPE: &str = "telegram";

/// Everything staff get about one order, rendered once and stored with each delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FallbackMessage {
    /// The number staff see (the site's number, else its id).
    pub number: String,
    pub reason: String,
    pub email_subject: String,
    pub email_text: String,
    pub email_html: String,
    /// Telegram HTML; [`crate::notify::Telegram::send_html`] splits it when long.
    pub telegram_html: String,
}

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("template {name}: {error:#}")]
    Template {
        name: String,
        #[source]
        error: minijinja::Error,
    },
    #[error("template {path}: {error}")]
    Read {
        path: String,
        #[source]
        error: std::io::Error,
    },
}

/// The fallback templates: the embedded defaults, some perhaps replaced by files.
pub struct Templates {
    env: Environment<'static>,
    /// The defaults, kept to render from when an edited template fails; `None` when nothing
    /// was replaced.
    defaults: Option<Environment<'static>>,
}

impl Templates {
    /// The compiled-in defaults only.
    pub fn embedded() -> Templates {
        Templates {
            env: environment(
                EMBEDDED
                    .iter()
                    .map(|&(name, source)| (name, source.to_owned())),
            )
            .expect("the embedded templates compile (tested)"),
            defaults: None,
        }
    }

    /// The defaults, each replaced by the file of the same name in `dir` when there is one.
    /// A missing `dir` is no error: the defaults serve. A file that does not compile is one,
    /// so a bad edit is found at start-up rather than when an order is in trouble.
    pub fn load(dir: &Path) -> Result<Templates, RenderError> {
        let mut replaced = false;
        let mut sources = Vec::new();
        for (name, default) in EMBEDDED {
            let path = dir.join(name);
            let source = match std::fs::read_to_string(&path) {
                Ok(source) => {
                    replaced = true;
                    tracing::info!(path = %path.display(), "fallback template replaced");
                    source
                }
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => default.to_owned(),
                Err(error) => {
                    return Err(RenderError::Read {
                        path: path.display().to_string(),
                        error,
                    });
                }
            };
            sources.push((name, source));
        }
        Ok(Templates {
            env: environment(sources.into_iter())?,
            defaults: replaced.then(|| Templates::embedded().env),
        })
    }

    /// Renders the e-mail and the Telegram message for `order`, which iiko did not take
    /// because of `reason`. Names come from `catalog` when it knows the articles; an unknown
    /// article is shown as sent.
    pub fn render_fallback(
        &self,
        order: &Order,
        branch: &BranchConfig,
        catalog: Option<&Catalog>,
        reason: &str,
    ) -> Result<FallbackMessage, RenderError> {
        let view = view::OrderView::new(order, branch, catalog, reason);
        let context = minijinja::context! { order => Value::from(minijinja::value::Serde(&view)) };
        let render = |name: &str| match (render(&self.env, name, &context), &self.defaults) {
            (Err(error), Some(defaults)) => {
                tracing::error!(%error, "an edited fallback template failed; using the default");
                render(defaults, name, &context)
            }
            (result, _) => result,
        };
        Ok(FallbackMessage {
            number: view.number.clone(),
            reason: reason.to_owned(),
            // A subject is one line: a template's stray line break must not end the header.
            email_subject: render(SUBJECT)?
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" "),
            email_text: render(EMAIL_TEXT)?,
            email_html: render(EMAIL_HTML)?,
            telegram_html: render(TELEGRAM)?,
        })
    }
}

fn render(env: &Environment<'static>, name: &str, context: &Value) -> Result<String, RenderError> {
    env.get_template(name)
        .and_then(|template| template.render(context))
        .map_err(|error| RenderError::Template {
            name: name.to_owned(),
            error,
        })
}

fn environment(
    sources: impl Iterator<Item = (&'static str, String)>,
) -> Result<Environment<'static>, RenderError> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_auto_escape_callback(|name| {
        if name.contains("telegram") && name.ends_with(".html.j2") {
            AutoEscape::Custom(TELEGRAM_ESCAPE.into())
        } else {
            minijinja::default_auto_escape_callback(name)
        }
    });
    env.set_formatter(|out, state, value| match state.auto_escape() {
        AutoEscape::Custom(name) if name == TELEGRAM_ESCAPE && !value.is_safe() => {
            out.write_str(&html::escape(&value.to_string()))?;
            Ok(())
        }
        _ => minijinja::escape_formatter(out, state, value),
    });
    for (name, source) in sources {
        env.add_template_owned(name, source)
            .map_err(|error| RenderError::Template {
                name: name.to_owned(),
                error,
            })?;
    }
    Ok(env)
}
