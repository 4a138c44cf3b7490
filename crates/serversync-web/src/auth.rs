//! Sign-in, sign-out, first-run setup, the session extractor and CSRF checks.

use askama::Template;
use axum::extract::{FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Form, Router};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use serde::Deserialize;
use serversync_store::{Role, Session};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::{WebError, WebState};

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "serversync_session";
/// The cookie holding the sign-in form's CSRF value (double submit; no session yet).
const LOGIN_CSRF_COOKIE: &str = "serversync_login_csrf";

/// The signed-in administrator of a page request. Rejects with a redirect to `/login`.
pub struct CurrentUser {
    pub session: Session,
    /// The cookie token (to sign out).
    pub token: String,
}

impl CurrentUser {
    pub fn name(&self) -> &str {
        &self.session.user.username
    }

    pub fn is_admin(&self) -> bool {
        self.session.user.role == Role::Admin
    }

    /// The CSRF token forms of this session carry.
    pub fn csrf(&self) -> &str {
        &self.session.csrf_token
    }

    /// Checks a submitted CSRF token (constant-time comparison).
    pub fn check_csrf(&self, submitted: &str) -> Result<(), WebError> {
        if constant_time_eq(submitted.as_bytes(), self.session.csrf_token.as_bytes()) {
            Ok(())
        } else {
            Err(WebError::Forbidden(
                "the form's CSRF token is missing or wrong: reload the page and try again".into(),
            ))
        }
    }

    /// Checks the CSRF token and that the user may change things.
    pub fn check_admin_form(&self, submitted: &str) -> Result<(), WebError> {
        self.check_csrf(submitted)?;
        if !self.is_admin() {
            return Err(WebError::Forbidden(format!(
                "{} is a read-only user: looking is allowed, changing is not",
                self.name()
            )));
        }
        Ok(())
    }

    /// The actor written to the audit log.
    pub fn actor(&self) -> String {
        format!("web:{}", self.name())
    }
}

/// Sign-in throttling per user name: after [`Throttle::FREE_FAILURES`] failures in a row, each
/// further attempt must wait, doubling from one second up to five minutes. A success clears it.
#[derive(Default)]
pub struct Throttle {
    failures: Mutex<HashMap<String, (u32, Instant)>>,
}

impl Throttle {
    /// Failures allowed without waiting.
    pub const FREE_FAILURES: u32 = 5;

    fn key(username: &str) -> String {
        username.trim().to_lowercase()
    }

    /// How long `username` must still wait before trying again, if at all.
    pub fn wait(&self, username: &str) -> Option<Duration> {
        let map = self.failures.lock().ok()?;
        let (n, last) = map.get(&Self::key(username))?;
        if *n < Self::FREE_FAILURES {
            return None;
        }
        let delay = Duration::from_secs(1u64 << (n - Self::FREE_FAILURES).min(8))
            .min(Duration::from_secs(300));
        delay.checked_sub(last.elapsed())
    }

    pub fn failed(&self, username: &str) {
        if let Ok(mut map) = self.failures.lock() {
            if map.len() > 10_000 {
                map.retain(|_, (_, t)| t.elapsed() < Duration::from_secs(600));
            }
            let e = map
                .entry(Self::key(username))
                .or_insert((0, Instant::now()));
            e.0 = e.0.saturating_add(1);
            e.1 = Instant::now();
        }
    }

    pub fn succeeded(&self, username: &str) {
        if let Ok(mut map) = self.failures.lock() {
            map.remove(&Self::key(username));
        }
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl FromRequestParts<WebState> for CurrentUser {
    type Rejection = WebError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &WebState,
    ) -> Result<Self, Self::Rejection> {
        let jar = CookieJar::from_headers(&parts.headers);
        let token = jar
            .get(SESSION_COOKIE)
            .map(|c| c.value().to_string())
            .ok_or(WebError::Unauthenticated)?;
        let session = state
            .app
            .session(&token)
            .await?
            .ok_or(WebError::Unauthenticated)?;
        Ok(CurrentUser { session, token })
    }
}

pub(crate) fn routes() -> Router<WebState> {
    Router::new()
        .route("/login", get(login_page).post(login))
        .route("/logout", axum::routing::post(logout))
        .route("/setup", get(setup_page).post(setup))
        .route("/static/app.css", get(css))
}

async fn css() -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/css; charset=utf-8"),
        )],
        include_str!("../static/app.css"),
    )
}

/// The navigation bar's data (signed-in pages).
pub struct Nav {
    pub username: String,
    pub is_admin: bool,
    pub csrf: String,
}

impl Nav {
    pub fn of(user: &CurrentUser) -> Option<Nav> {
        Some(Nav {
            username: user.name().to_string(),
            is_admin: user.is_admin(),
            csrf: user.csrf().to_string(),
        })
    }
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    nav: Option<Nav>,
    csrf: String,
    error: Option<String>,
    username: String,
}

fn cookie(name: &'static str, value: String, secure: bool) -> Cookie<'static> {
    let mut c = Cookie::new(name, value);
    c.set_http_only(true);
    c.set_same_site(SameSite::Strict);
    c.set_path("/");
    c.set_secure(secure);
    c
}

pub(crate) fn render<T: Template>(t: &T) -> Result<Html<String>, WebError> {
    t.render()
        .map(Html)
        .map_err(|e| WebError::Internal(format!("template: {e}")))
}

async fn login_page(State(st): State<WebState>, jar: CookieJar) -> Result<Response, WebError> {
    let csrf = serversync_app::auth::new_token("");
    let page = render(&LoginPage {
        nav: None,
        csrf: csrf.clone(),
        error: None,
        username: String::new(),
    })?;
    Ok((
        jar.add(cookie(LOGIN_CSRF_COOKIE, csrf, st.config.secure_cookies)),
        page,
    )
        .into_response())
}

#[derive(Deserialize)]
struct LoginForm {
    username: String,
    password: String,
    #[serde(default)]
    csrf: String,
}

async fn login(
    State(st): State<WebState>,
    jar: CookieJar,
    Form(f): Form<LoginForm>,
) -> Result<Response, WebError> {
    let expected = jar
        .get(LOGIN_CSRF_COOKIE)
        .map(|c| c.value().to_string())
        .unwrap_or_default();
    if expected.is_empty() || !constant_time_eq(expected.as_bytes(), f.csrf.as_bytes()) {
        return Err(WebError::Forbidden(
            "the sign-in form's CSRF token is missing or wrong: reload the page and try again"
                .into(),
        ));
    }
    if let Some(wait) = st.sign_in_failures.wait(&f.username) {
        let csrf = serversync_app::auth::new_token("");
        let page = render(&LoginPage {
            nav: None,
            csrf: csrf.clone(),
            error: Some(format!(
                "Too many failed sign-ins for this user name: try again in {} s.",
                wait.as_secs().max(1)
            )),
            username: f.username,
        })?;
        return Ok((
            axum::http::StatusCode::TOO_MANY_REQUESTS,
            jar.add(cookie(LOGIN_CSRF_COOKIE, csrf, st.config.secure_cookies)),
            page,
        )
            .into_response());
    }
    let login = st.app.login(f.username.trim(), &f.password).await?;
    if login.is_some() {
        st.sign_in_failures.succeeded(&f.username);
    } else {
        st.sign_in_failures.failed(&f.username);
    }
    match login {
        Some((token, _session)) => {
            let jar = jar
                .remove(Cookie::build(LOGIN_CSRF_COOKIE).path("/"))
                .add(cookie(SESSION_COOKIE, token, st.config.secure_cookies));
            Ok((jar, Redirect::to("/servers")).into_response())
        }
        None => {
            let csrf = serversync_app::auth::new_token("");
            let page = render(&LoginPage {
                nav: None,
                csrf: csrf.clone(),
                error: Some("Wrong user name or password.".into()),
                username: f.username,
            })?;
            Ok((
                axum::http::StatusCode::UNAUTHORIZED,
                jar.add(cookie(LOGIN_CSRF_COOKIE, csrf, st.config.secure_cookies)),
                page,
            )
                .into_response())
        }
    }
}

#[derive(Deserialize)]
struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

async fn logout(
    State(st): State<WebState>,
    user: CurrentUser,
    jar: CookieJar,
    Form(f): Form<CsrfForm>,
) -> Result<Response, WebError> {
    user.check_csrf(&f.csrf)?;
    st.app.logout(&user.token).await?;
    Ok((
        jar.remove(Cookie::build(SESSION_COOKIE).path("/")),
        Redirect::to("/login"),
    )
        .into_response())
}

#[derive(Template)]
#[template(path = "setup.html")]
struct SetupPage {
    nav: Option<Nav>,
    token: String,
    error: Option<String>,
}

#[derive(Deserialize)]
struct SetupQuery {
    #[serde(default)]
    token: String,
}

fn setup_token_ok(st: &WebState, token: &str) -> bool {
    st.setup_token
        .lock()
        .ok()
        .and_then(|t| t.clone())
        .is_some_and(|t| !token.is_empty() && constant_time_eq(t.as_bytes(), token.as_bytes()))
}

async fn setup_page(
    State(st): State<WebState>,
    Query(q): Query<SetupQuery>,
) -> Result<Response, WebError> {
    if !setup_token_ok(&st, &q.token) || st.app.has_users().await? {
        return Err(WebError::Forbidden(
            "this setup link is not valid (it works once, until the first administrator exists)"
                .into(),
        ));
    }
    Ok(render(&SetupPage {
        nav: None,
        token: q.token,
        error: None,
    })?
    .into_response())
}

#[derive(Deserialize)]
struct SetupForm {
    token: String,
    username: String,
    password: String,
}

async fn setup(
    State(st): State<WebState>,
    jar: CookieJar,
    Form(f): Form<SetupForm>,
) -> Result<Response, WebError> {
    // The setup token is the CSRF protection of this form: it is secret and single-use. It is
    // taken out before the administrator is created, so concurrent posts cannot both use it.
    let taken = st.setup_token.lock().ok().and_then(|mut t| {
        let ok = t.as_deref().is_some_and(|v| {
            !f.token.is_empty() && constant_time_eq(v.as_bytes(), f.token.as_bytes())
        });
        if ok {
            t.take()
        } else {
            None
        }
    });
    let Some(token) = taken else {
        return Err(WebError::Forbidden(
            "this setup link is not valid (it works once, until the first administrator exists)"
                .into(),
        ));
    };
    let restore = |st: &WebState| {
        if let Ok(mut t) = st.setup_token.lock() {
            *t = Some(token.clone());
        }
    };
    match st.app.has_users().await {
        Ok(false) => {}
        Ok(true) => return Err(WebError::Forbidden(
            "this setup link is not valid (it works once, until the first administrator exists)"
                .into(),
        )),
        Err(e) => {
            restore(&st);
            return Err(e.into());
        }
    }
    let app = st.app.clone().with_actor("setup");
    if let Err(e) = app
        .add_user(f.username.trim(), &f.password, Role::Admin)
        .await
    {
        // A refused name or password: the link may be used again.
        restore(&st);
        return Ok((
            axum::http::StatusCode::BAD_REQUEST,
            render(&SetupPage {
                nav: None,
                token: f.token,
                error: Some(e.to_string()),
            })?,
        )
            .into_response());
    }
    match st.app.login(f.username.trim(), &f.password).await? {
        Some((token, _)) => Ok((
            jar.add(cookie(SESSION_COOKIE, token, st.config.secure_cookies)),
            Redirect::to("/servers"),
        )
            .into_response()),
        None => Ok(Redirect::to("/login").into_response()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttle_waits_after_five_failures_and_clears_on_success() {
        let t = Throttle::default();
        for _ in 0..Throttle::FREE_FAILURES {
            assert_eq!(t.wait("Admin"), None);
            t.failed("admin");
        }
        let w = t.wait(" ADMIN ").expect("must wait after five failures");
        assert!(
            w <= Duration::from_secs(1) && w > Duration::from_millis(500),
            "{w:?}"
        );
        assert_eq!(t.wait("other"), None);
        t.succeeded("admin");
        assert_eq!(t.wait("admin"), None);
    }
}
