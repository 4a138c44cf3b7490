//! The ticks of a run page, kept server-side per run and user across pages and tabs until
//! the apply (the pages have no script to carry them): every page change and the review
//! submit the run form, which stores the ticks of the page shown and then moves on.

use std::collections::HashSet;

use axum::extract::{Path, State};
use axum::response::Redirect;
use axum_extra::extract::Form;
use serde::Deserialize;
use serversync_app::items::{ItemPage, ItemQuery, RunView};

use super::query_string;
use super::runs::{RunQuery, PER_PAGE};
use crate::auth::CurrentUser;
use crate::{WebError, WebState};

/// `/runs/{id}` with the tab, search and page (page 1 and empty values left out).
pub(super) fn run_href(id: i64, category: &str, q: &str, page: usize) -> String {
    let qs = query_string(&[
        ("category", category.to_string()),
        ("q", q.trim().to_string()),
        (
            "page",
            if page > 1 {
                page.to_string()
            } else {
                String::new()
            },
        ),
    ]);
    if qs.is_empty() {
        format!("/runs/{id}")
    } else {
        format!("/runs/{id}?{qs}")
    }
}

/// The items of a run page for `iq`; past the end (a stale link, a narrower filter) the
/// last page instead.
pub(super) fn shown_page<'a>(view: &'a RunView, iq: &ItemQuery) -> ItemPage<'a> {
    let page = view.query(iq);
    if page.items.is_empty() && page.total > 0 {
        return view.query(&ItemQuery {
            page: page.pages(),
            ..iq.clone()
        });
    }
    page
}

/// The checkbox keys (`{index}:{action}`) of the page `shown` of `view`.
fn page_keys(view: &RunView, shown: &RunQuery) -> Result<HashSet<String>, WebError> {
    let iq = shown.item_query(PER_PAGE)?;
    Ok(shown_page(view, &iq)
        .items
        .iter()
        .flat_map(|(i, it)| {
            it.actions
                .iter()
                .map(move |a| format!("{i}:{}", a.as_str()))
        })
        .collect())
}

/// Stores the ticks `ticked` of the page `shown` (its other boxes were left unticked) in the
/// selection of `user` on the run, and returns the whole selection, sorted. A tick that is
/// not a box of that page is refused (a forged or stale form), naming it.
pub(super) async fn remember(
    st: &WebState,
    user: &CurrentUser,
    view: &RunView,
    shown: &RunQuery,
    ticked: &[String],
) -> Result<Vec<String>, WebError> {
    let keys = page_keys(view, shown)?;
    if let Some(k) = ticked.iter().find(|k| !keys.contains(k.as_str())) {
        return Err(WebError::BadRequest(format!(
            "selection {k:?} is not a box of the page shown: reload the run page and tick again"
        )));
    }
    let ticked_set: HashSet<&str> = ticked.iter().map(String::as_str).collect();
    let unticked: Vec<String> = keys
        .iter()
        .filter(|k| !ticked_set.contains(k.as_str()))
        .cloned()
        .collect();
    let uid = user.session.user.id;
    Ok(st
        .app
        .update_run_selection(view.run_id, uid, ticked, &unticked)
        .await?)
}

/// The run form as a page change posts it: the page shown, its ticks, and where to go.
#[derive(Deserialize, Default)]
pub(super) struct SelectForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    c: Vec<String>,
    #[serde(default)]
    shown_category: String,
    #[serde(default)]
    shown_q: String,
    #[serde(default)]
    shown_page: String,
    /// The page number to show next (of the same tab and search).
    #[serde(default)]
    goto: String,
    /// A tab to show next (its page 1); `all` for every category.
    #[serde(default)]
    goto_category: Option<String>,
    /// Set by the Search button: show page 1 of the tab shown for the search `q`.
    #[serde(default)]
    goto_search: Option<String>,
    #[serde(default)]
    q: String,
}

/// Keeps the ticks of the page shown and redirects to the page asked for (303, so that a
/// reload does not post again). Read-only users may tick too: they may review.
pub(super) async fn select(
    State(st): State<WebState>,
    user: CurrentUser,
    Path(id): Path<i64>,
    Form(f): Form<SelectForm>,
) -> Result<Redirect, WebError> {
    user.check_csrf(&f.csrf)?;
    let view = st.app.run_view(&st.runs, id).await?;
    let shown = RunQuery {
        category: f.shown_category.clone(),
        q: f.shown_q.clone(),
        page: f.shown_page.clone(),
    };
    remember(&st, &user, &view, &shown, &f.c).await?;
    let to = match f.goto_category.as_deref().map(str::trim) {
        None if f.goto_search.is_some() => run_href(id, &f.shown_category, &f.q, 1),
        Some(c) => {
            let category = if c == "all" { "" } else { c };
            // Checked like a query string's category: an unknown one is a 400.
            RunQuery {
                category: category.to_string(),
                ..Default::default()
            }
            .item_query(PER_PAGE)?;
            run_href(id, category, &f.shown_q, 1)
        }
        None => {
            let page = super::opt_num::<usize>("page", &Some(f.goto.clone()))?.unwrap_or(1);
            run_href(id, &f.shown_category, &f.shown_q, page)
        }
    };
    Ok(Redirect::to(&to))
}
