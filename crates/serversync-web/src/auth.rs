//! Sign-in, sign-out, first-run setup, the session extractor and CSRF checks.

use askama::Template;
use axum::extract::{ConnectInfo, FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Form, Router};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use serde::Deserialize;
use serversync_store::{Role, Session};
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use serversync_app::AppError;

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

pub use crate::throttle::{Admission, Throttle, ThrottleConfig};

/// The client's address (the TCP peer), when the server was started with connect info
/// ([`crate::serve`] does); `None` otherwise (e.g. a router driven in-process).
pub struct ClientAddr(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientAddr(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0.ip()),
        ))
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
    ClientAddr(addr): ClientAddr,
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
    // Failed sign-ins for this name from this address slow the next ones down (a bounded
    // wait, then the password is checked); only a long queue of them is refused.
    // The count of every instance sharing the database; should it be unreadable, this
    // instance's own count still holds.
    let shared_key = crate::throttle::shared_key(&f.username, addr);
    let shared = match st.app.sign_in_failures(&shared_key).await {
        Ok(n) => n,
        Err(e) => {
            tracing::warn!(error = %crate::error::log_text(&e), "sign-in failures unreadable");
            0
        }
    };
    let wait = match st
        .sign_in_failures
        .admit(&f.username, addr, Instant::now(), shared)
    {
        Admission::Now => None,
        Admission::After(d) => {
            tokio::time::sleep(d).await;
            None
        }
        Admission::Refused(d) => Some(d),
    };
    if let Some(wait) = wait {
        let csrf = serversync_app::auth::new_token("");
        let page = render(&LoginPage {
            nav: None,
            csrf: csrf.clone(),
            error: Some(format!(
                "Too many sign-in attempts for this user name from your address are waiting: try again in {} s.",
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
        st.sign_in_failures.succeeded(&f.username, addr);
        if let Err(e) = st.app.clear_sign_in_failures(&shared_key).await {
            tracing::warn!(error = %crate::error::log_text(&e), "sign-in failures not cleared");
        }
    } else {
        st.sign_in_failures
            .failed(&f.username, addr, Instant::now());
        if let Err(e) = st.app.record_sign_in_failure(&shared_key).await {
            tracing::warn!(error = %crate::error::log_text(&e), "sign-in failure not counted");
        }
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

const SETUP_LINK_INVALID: &str =
    "this setup link is not valid (it works once, until the first administrator exists)";

async fn setup_page(
    State(st): State<WebState>,
    Query(q): Query<SetupQuery>,
) -> Result<Response, WebError> {
    if !st.app.setup_token_valid(&q.token).await? {
        return Err(WebError::Forbidden(SETUP_LINK_INVALID.into()));
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
    // The setup token is the CSRF protection of this form: it is secret and single-use. It
    // lives in the database and is consumed in the transaction that creates the user, so of
    // concurrent posts — to this process or another `serve` on the same database — exactly
    // one creates an administrator.
    if !st.app.setup_token_valid(&f.token).await? {
        return Err(WebError::Forbidden(SETUP_LINK_INVALID.into()));
    }
    let app = st.app.clone().with_actor("setup");
    match app
        .create_first_admin(&f.token, f.username.trim(), &f.password)
        .await
    {
        Ok(Some(_)) => {}
        Ok(None) => return Err(WebError::Forbidden(SETUP_LINK_INVALID.into())),
        Err(AppError::Invalid(e)) => {
            // A refused name or password: the link may be used again.
            return Ok((
                axum::http::StatusCode::BAD_REQUEST,
                render(&SetupPage {
                    nav: None,
                    token: f.token,
                    error: Some(e),
                })?,
            )
                .into_response());
        }
        Err(e) => return Err(e.into()),
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
