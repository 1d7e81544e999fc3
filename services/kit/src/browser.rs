//! What every page a person opens in a browser shares: the session cookie, and the
//! refusal of unsafe requests sent by another site.
//!
//! The cookie holds only a session's opaque secret (staff keeps its hash). It is
//! `HttpOnly` (no script reads it) and `SameSite=Lax` (another site's form posts do not
//! carry it); behind TLS it is `__Host-ringside_session`, `Secure`, for this host alone
//! and path `/`, so a neighbouring subdomain cannot plant one.
//!
//! Cross-site requests: a browser says where a request came from in `Sec-Fetch-Site`
//! (every current browser) or, failing that, in `Origin`. An unsafe request (a form
//! post, a WebSocket upgrade) that another site made is refused before anything is
//! read or written. A request that names no origin at all is not a browser's
//! cross-site request (browsers always send one of the two on these), so programs
//! pass. A page served from another origin of the same deployment (the push socket
//! when web and notifications answer on different addresses) is named in an
//! [`Origins`] list.
//!
//! Whose session a cookie names, staff answers ([`Sessions`]): the person, and a
//! people's access token of minutes for the calls a page makes as them.

use cookie::{Cookie, SameSite};
use http::HeaderMap;
use http::header::{COOKIE, HOST, ORIGIN};
use ringside_auth::Role;
use ringside_proto::staff::v1 as spb;
use ringside_proto::staff::v1::staff_client::StaffClient;
use tonic::Status;

use crate::PeerChannel;
use crate::peer::request;

/// The cookie's name behind TLS: `__Host-` makes browsers insist on `Secure`, path `/`
/// and no `Domain`.
pub const SECURE_NAME: &str = "__Host-ringside_session";
/// The cookie's name over plain HTTP (a laptop's all-in-one on localhost).
pub const PLAIN_NAME: &str = "ringside_session";

/// How this deployment's session cookie is made and read. The same make binds a
/// single sign-on flow to the browser that started it ([`SessionCookie::flow`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionCookie {
    secure: bool,
    /// The names behind TLS and over plain HTTP.
    names: (&'static str, &'static str),
}

impl SessionCookie {
    /// `secure` when browsers reach the service over HTTPS.
    pub fn new(secure: bool) -> Self {
        SessionCookie {
            secure,
            names: (SECURE_NAME, PLAIN_NAME),
        }
    }

    /// The cookie of a sign-in sent to a provider: its state, until the browser is
    /// back (the same attributes, another name).
    pub fn flow(&self) -> Self {
        SessionCookie {
            secure: self.secure,
            names: ("__Host-ringside_sso", "ringside_sso"),
        }
    }

    /// Whether the cookie is sent over TLS only.
    pub fn is_secure(&self) -> bool {
        self.secure
    }

    pub fn name(&self) -> &'static str {
        match self.secure {
            true => self.names.0,
            false => self.names.1,
        }
    }

    /// The session secret the browser sent, if any. Only this deployment's name
    /// counts: behind TLS a plain-named cookie (which anyone on the network could
    /// have set) is ignored.
    pub fn read(&self, headers: &HeaderMap) -> Option<String> {
        headers
            .get_all(COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(Cookie::split_parse)
            .filter_map(Result::ok)
            .find(|c| c.name() == self.name() && !c.value().is_empty())
            .map(|c| c.value().to_owned())
    }

    /// The `Set-Cookie` value that gives the browser `secret` for `max_age_secs`.
    pub fn set(&self, secret: &str, max_age_secs: i64) -> String {
        self.build(secret, max_age_secs)
    }

    /// The `Set-Cookie` value that makes the browser forget the session.
    pub fn clear(&self) -> String {
        self.build("", 0)
    }

    fn build(&self, value: &str, max_age_secs: i64) -> String {
        Cookie::build((self.name(), value.to_owned()))
            .path("/")
            .http_only(true)
            .same_site(SameSite::Lax)
            .secure(self.secure)
            .max_age(cookie::time::Duration::seconds(max_age_secs.max(0)))
            .build()
            .to_string()
    }
}

/// Why an unsafe request is refused when another site sent it; `None` when it may go
/// on: `Sec-Fetch-Site` says same-origin (or that the person typed it), or, without
/// it, `Origin` names this host, or the request names no origin at all.
pub fn cross_site(headers: &HeaderMap) -> Option<&'static str> {
    if let Some(site) = headers.get("sec-fetch-site") {
        return match site.as_bytes() {
            b"same-origin" | b"none" => None,
            _ => Some("refused: the request came from another site"),
        };
    }
    let origin = headers.get(ORIGIN)?;
    let host = headers.get(HOST).and_then(|h| h.to_str().ok());
    let origin_host = origin
        .to_str()
        .ok()
        .and_then(|o| o.split_once("://"))
        .map(|(_, rest)| rest);
    match (origin_host, host) {
        (Some(o), Some(h)) if o.eq_ignore_ascii_case(h) => None,
        _ => Some("refused: the request came from another origin"),
    }
}

/// Other origins of this deployment whose pages may open a socket here (`scheme://host:port`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Origins(Vec<String>);

impl Origins {
    /// A comma-separated list of `scheme://host[:port]`, as browsers send them in
    /// `Origin`: blanks are dropped, and so are a path and a scheme's default port.
    pub fn parse(list: &str) -> Self {
        let origins = list.split(',').filter_map(|o| origin(o.trim())).collect();
        Origins(origins)
    }

    /// [`cross_site`], except that a request from one of these origins may go on.
    pub fn cross_site(&self, headers: &HeaderMap) -> Option<&'static str> {
        let named = headers
            .get(ORIGIN)
            .and_then(|o| o.to_str().ok())
            .is_some_and(|o| self.0.iter().any(|known| known.eq_ignore_ascii_case(o)));
        match named {
            true => None,
            false => cross_site(headers),
        }
    }
}

/// `entry` as a browser's `Origin` names it, if it is one.
fn origin(entry: &str) -> Option<String> {
    let entry = entry.to_ascii_lowercase();
    let (scheme, rest) = entry.split_once("://")?;
    let host = rest.split('/').next().unwrap_or_default();
    let host = match (scheme, host.rsplit_once(':')) {
        ("https", Some((name, "443"))) | ("http", Some((name, "80"))) => name,
        _ => host,
    };
    let sound = matches!(scheme, "http" | "https") && !host.is_empty() && !host.contains('@');
    sound.then(|| format!("{scheme}://{host}"))
}

/// A person signed in through the browser, with a people's access token for the
/// calls made as them (valid for minutes).
#[derive(Clone, PartialEq, Eq)]
pub struct Person {
    pub id: String,
    pub name: String,
    pub role: Role,
    /// The teams they belong to (what they may share with).
    pub teams: Vec<String>,
    /// The language and IANA time zone staff keeps for them (empty: not chosen).
    pub locale: String,
    pub time_zone: String,
    pub access_token: String,
}

impl std::fmt::Debug for Person {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Person")
            .field("id", &self.id)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

/// The way from a browser's cookie to a person: staff, asked with this service's
/// identity, and how the cookie is made.
#[derive(Clone)]
pub struct Sessions {
    staff: StaffClient<PeerChannel>,
    cookie: SessionCookie,
}

impl Sessions {
    pub fn new(staff: PeerChannel, cookie: SessionCookie) -> Self {
        Sessions {
            staff: StaffClient::new(staff),
            cookie,
        }
    }

    pub fn cookie(&self) -> SessionCookie {
        self.cookie
    }

    /// Staff, as this service.
    pub fn staff(&self) -> StaffClient<PeerChannel> {
        self.staff.clone()
    }

    /// The session secret in the browser's cookie.
    pub fn secret(&self, headers: &HeaderMap) -> Option<String> {
        self.cookie.read(headers)
    }

    /// The person of a live session (which counts as used now). `UNAUTHENTICATED`
    /// when it has ended; `PERMISSION_DENIED` for a role that cannot sign in here.
    pub async fn open(&self, secret: &str) -> Result<Person, Status> {
        let message = spb::OpenSessionRequest {
            session_secret: secret.to_owned(),
        };
        let opened = self.staff().open_session(request(message, "")).await?;
        let opened = opened.into_inner();
        let user = opened.user.unwrap_or_default();
        let details = user.details.unwrap_or_default();
        let role = details
            .role
            .parse()
            .map_err(|_| Status::permission_denied("this role cannot sign in here"))?;
        Ok(Person {
            id: user.id,
            name: details.name,
            role,
            teams: details.team_ids,
            locale: details.locale,
            time_zone: details.time_zone,
            access_token: opened.access_token,
        })
    }

    /// The person whose session the browser's cookie names, if it is live.
    pub async fn person(&self, headers: &HeaderMap) -> Result<Person, Status> {
        match self.secret(headers) {
            Some(secret) => self.open(&secret).await,
            None => Err(Status::unauthenticated("not signed in")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, v.parse().expect("header value"));
        }
        h
    }

    #[test]
    fn the_cookie_is_host_only_http_only_and_lax_and_secure_behind_tls() {
        let tls = SessionCookie::new(true).set("s3cret", 3600);
        assert!(tls.starts_with("__Host-ringside_session=s3cret"), "{tls}");
        for part in [
            "HttpOnly",
            "SameSite=Lax",
            "Secure",
            "Path=/",
            "Max-Age=3600",
        ] {
            assert!(tls.contains(part), "{part} in {tls}");
        }
        assert!(!tls.contains("Domain"), "{tls}");
        let plain = SessionCookie::new(false).set("s3cret", 60);
        assert!(plain.starts_with("ringside_session=s3cret"), "{plain}");
        assert!(!plain.contains("Secure"), "{plain}");
        assert!(SessionCookie::new(false).clear().contains("Max-Age=0"));
    }

    #[test]
    fn only_this_deployments_cookie_is_read() {
        let sent = headers(&[(
            "cookie",
            "a=1; ringside_session=plain; __Host-ringside_session=tls",
        )]);
        assert_eq!(SessionCookie::new(true).read(&sent).as_deref(), Some("tls"));
        assert_eq!(
            SessionCookie::new(false).read(&sent).as_deref(),
            Some("plain")
        );
        let planted = headers(&[("cookie", "ringside_session=planted")]);
        assert_eq!(SessionCookie::new(true).read(&planted), None);
        assert_eq!(SessionCookie::new(false).read(&headers(&[])), None);
    }

    #[test]
    fn requests_from_other_sites_are_refused() {
        let host = ("host", "crm.example:8080");
        for ok in [
            headers(&[host, ("sec-fetch-site", "same-origin")]),
            headers(&[host, ("sec-fetch-site", "none")]),
            headers(&[host, ("origin", "https://crm.example:8080")]),
            headers(&[host]),
        ] {
            assert_eq!(cross_site(&ok), None, "{ok:?}");
        }
        for refused in [
            headers(&[
                host,
                ("sec-fetch-site", "cross-site"),
                ("origin", "https://crm.example:8080"),
            ]),
            headers(&[host, ("sec-fetch-site", "same-site")]),
            headers(&[host, ("origin", "https://evil.example")]),
            headers(&[host, ("origin", "null")]),
            headers(&[("origin", "https://crm.example:8080")]),
        ] {
            assert!(cross_site(&refused).is_some(), "{refused:?}");
        }
    }

    #[test]
    fn a_named_origin_of_the_deployment_may_open_a_socket_and_others_may_not() {
        let web = Origins::parse(
            " http://127.0.0.1:8080/ , ,https://crm.example:443/app,ftp://x, https://u@evil",
        );
        assert_eq!(web.0, ["http://127.0.0.1:8080", "https://crm.example"]);
        let from = |origin: &str| {
            headers(&[
                ("sec-fetch-site", "same-site"),
                ("origin", origin),
                ("host", "127.0.0.1:8081"),
            ])
        };
        assert_eq!(web.cross_site(&from("http://127.0.0.1:8080")), None);
        assert_eq!(web.cross_site(&from("HTTPS://CRM.EXAMPLE")), None);
        assert!(web.cross_site(&from("http://127.0.0.1:9999")).is_some());
        assert!(
            Origins::default()
                .cross_site(&from("http://127.0.0.1:8080"))
                .is_some()
        );
    }
}
