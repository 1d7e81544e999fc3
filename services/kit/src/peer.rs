//! The one way a service calls another: the peer's generated tonic client over a
//! [`PeerChannel`]. The channel signs every call with a short-lived service token for
//! the peer service it goes to (naming the user it acts for, when the request says so:
//! [`request_for`]) — or, for a request made as a signed-in person ([`request_as`]),
//! sends that person's own access token instead, so the peer's guard and scope see
//! them — and takes it to the peer by one of two routes:
//!
//! - **a socket** ([`PeerChannel::connect`]): a lazily dialled HTTP/2 channel to the
//!   peer's address, with bounded connect and call times — the services mode;
//! - **this process** ([`PeerChannel::local`]): the [`Loopback`], which hands the
//!   request to the gRPC router this process serves on its port — the same guard,
//!   the same handlers, no socket — the all-in-one mode.
//!
//! Both routes run the same client code, encoding, token check and handlers, so a test
//! of one mode exercises the call path of the other; only the socket's connect and
//! call time limits (2 s, 5 s) have no counterpart in the process.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use http::HeaderValue;
use ringside_auth::TokenKey;
use tonic::body::Body;
use tower::Service;
use tower::util::{BoxCloneSyncService, ServiceExt};

/// What a channel's calls fail with before reaching a peer.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

type Route = BoxCloneSyncService<http::Request<Body>, http::Response<Body>, BoxError>;
type LocalRouter = BoxCloneSyncService<http::Request<Body>, http::Response<Body>, Infallible>;

/// A token is signed again once it is this old (well before it expires).
const SERVICE_TOKEN_REFRESH: Duration = Duration::from_secs(120);
/// How long a call in this process waits for the process's router to be bound.
const BIND_WAIT: Duration = Duration::from_secs(10);

/// A route to a peer service and the identity this service calls it with. Clone it
/// freely: clones share the connection and the token.
#[derive(Clone)]
pub struct PeerChannel {
    route: Route,
    token: Arc<ServiceToken>,
}

impl PeerChannel {
    /// The peer at `url` (`http://contacts:50051`), dialled on first use and again
    /// after the connection breaks; calls as `caller` with a token signed by `key`.
    pub fn connect(
        url: &str,
        key: TokenKey,
        caller: &'static str,
    ) -> Result<Self, tonic::transport::Error> {
        let channel = tonic::transport::Endpoint::from_shared(url.to_owned())?
            .connect_timeout(Duration::from_secs(2))
            .timeout(Duration::from_secs(5))
            .tcp_nodelay(true)
            .connect_lazy();
        let route = channel.map_err(BoxError::from);
        Ok(PeerChannel::new(
            BoxCloneSyncService::new(route),
            key,
            caller,
        ))
    }

    /// The peer as served by this process's gRPC router.
    pub fn local(loopback: &Loopback, key: TokenKey, caller: &'static str) -> Self {
        let route = loopback.clone().map_err(|never: Infallible| match never {});
        PeerChannel::new(BoxCloneSyncService::new(route), key, caller)
    }

    /// A peer served by `router` alone, in this process: how a test reaches one
    /// service without a process around it.
    pub fn serving(router: tonic::service::Routes, key: TokenKey, caller: &'static str) -> Self {
        PeerChannel::local(&Loopback::serving(router), key, caller)
    }

    fn new(route: Route, key: TokenKey, caller: &'static str) -> Self {
        PeerChannel {
            route,
            token: Arc::new(ServiceToken::new(key, caller)),
        }
    }
}

impl Service<http::Request<Body>> for PeerChannel {
    type Response = http::Response<Body>;
    type Error = BoxError;
    type Future = <Route as Service<http::Request<Body>>>::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.route.poll_ready(cx)
    }

    fn call(&mut self, mut req: http::Request<Body>) -> Self::Future {
        if let Some(AsPerson(token)) = req.extensions_mut().remove::<AsPerson>() {
            req.headers_mut().insert(http::header::AUTHORIZATION, token);
            return self.route.call(req);
        }
        let user = req.extensions_mut().remove::<OnBehalfOf>();
        let user = user.as_ref().map(|u| u.0.as_str());
        if let Some(value) = self.token.header(req.uri().path(), user) {
            req.headers_mut().insert(http::header::AUTHORIZATION, value);
        }
        self.route.call(req)
    }
}

/// The service's own bearer tokens, one per peer service it calls (a token names the
/// service it is for), each signed again when it gets old.
struct ServiceToken {
    key: TokenKey,
    caller: &'static str,
    current: Mutex<HashMap<String, (HeaderValue, Instant)>>,
}

impl ServiceToken {
    fn new(key: TokenKey, caller: &'static str) -> Self {
        ServiceToken {
            key,
            caller,
            current: Mutex::default(),
        }
    }

    /// The `authorization` value for a call to the method at `path`, acting for
    /// `user` when given (such a token is signed for this one call).
    fn header(&self, path: &str, user: Option<&str>) -> Option<HeaderValue> {
        let audience = path.trim_start_matches('/').split('/').next().unwrap_or("");
        if user.is_some() {
            return self.sign(audience, user);
        }
        let mut current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((value, signed)) = current.get(audience)
            && signed.elapsed() < SERVICE_TOKEN_REFRESH
        {
            return Some(value.clone());
        }
        let value = self.sign(audience, None)?;
        current.insert(audience.to_owned(), (value.clone(), Instant::now()));
        Some(value)
    }

    fn sign(&self, audience: &str, user: Option<&str>) -> Option<HeaderValue> {
        let token = match self.key.issue_service(self.caller, audience, user) {
            Ok(token) => token,
            Err(e) => {
                tracing::error!(caller = self.caller, error = %e, "cannot sign a service token");
                return None;
            }
        };
        let mut value = HeaderValue::try_from(format!("Bearer {token}"))
            .expect("a signed token is base64url and dots");
        value.set_sensitive(true);
        Some(value)
    }
}

/// Asks the channel to send a person's own access token instead of the service's: a
/// request extension, so it goes on the wire only as the `authorization` header.
#[derive(Debug, Clone)]
struct AsPerson(HeaderValue);

/// A request to a peer made as a signed-in person, with their access token (staff's
/// `OpenSession` gives it): the peer's guard and scope see the person, not this
/// service — what a page in the browser shows, the services decide. `None` for a
/// token that cannot be a header.
pub fn request_as<T>(message: T, access_token: &str) -> Option<tonic::Request<T>> {
    let mut value = HeaderValue::try_from(format!("Bearer {access_token}")).ok()?;
    value.set_sensitive(true);
    let mut req = request(message, "");
    req.extensions_mut().insert(AsPerson(value));
    Some(req)
}

/// Asks the channel to sign its call on behalf of a user: a request extension, so it
/// never goes on the wire itself (only in the signed token).
#[derive(Debug, Clone)]
struct OnBehalfOf(String);

/// A request to a peer made for `user` (an agent's note typed into a card): the
/// service's token names the user, so the peer records them as its author.
pub fn request_for<T>(message: T, user: &str, correlation_id: &str) -> tonic::Request<T> {
    let mut req = request(message, correlation_id);
    req.extensions_mut().insert(OnBehalfOf(user.to_owned()));
    req
}

/// A request to a peer, carrying the correlation id of the work it belongs to (when
/// there is one).
pub fn request<T>(message: T, correlation_id: &str) -> tonic::Request<T> {
    let mut req = tonic::Request::new(message);
    if !correlation_id.is_empty()
        && let Ok(value) = correlation_id.parse()
    {
        req.metadata_mut().insert("x-correlation-id", value);
    }
    req
}

/// The gRPC router of this process, as its own services call it. Created empty when
/// the process starts assembling its services (which need channels to each other
/// before any of them exists) and bound once the router is built; a call made before
/// that waits for it, up to 10 s, then answers `Unavailable`.
#[derive(Clone)]
pub struct Loopback {
    router: Arc<tokio::sync::watch::Sender<Option<LocalRouter>>>,
}

impl Default for Loopback {
    fn default() -> Self {
        Loopback {
            router: Arc::new(tokio::sync::watch::Sender::new(None)),
        }
    }
}

impl Loopback {
    /// A loopback bound to `router` from the start.
    pub fn serving(router: tonic::service::Routes) -> Self {
        let loopback = Loopback::default();
        loopback.bind(router);
        loopback
    }

    /// Refuses every call from now on (the process is stopping); also breaks the
    /// cycle between the router and the services that hold channels to it.
    pub fn unbind(&self) {
        self.router.send_replace(None);
    }

    /// Routes every call from now on (and those waiting) to `router`.
    pub fn bind<S>(&self, router: S)
    where
        S: Service<http::Request<Body>, Response = http::Response<Body>, Error = Infallible>
            + Clone
            + Send
            + Sync
            + 'static,
        S::Future: Send + 'static,
    {
        self.router
            .send_replace(Some(BoxCloneSyncService::new(router)));
    }
}

impl Service<http::Request<Body>> for Loopback {
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = std::pin::Pin<
        Box<dyn Future<Output = Result<http::Response<Body>, Infallible>> + Send + 'static>,
    >;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<Body>) -> Self::Future {
        let mut bound = self.router.subscribe();
        Box::pin(async move {
            let router = tokio::time::timeout(BIND_WAIT, bound.wait_for(Option::is_some))
                .await
                .ok()
                .and_then(|r| r.ok().and_then(|router| router.clone()));
            match router {
                Some(router) => router.oneshot(req).await,
                None => Ok(tonic::Status::unavailable(
                    "the service is not running in this process",
                )
                .into_http()),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PeerError;
    use tonic_health::pb::health_client::HealthClient;
    use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus};

    /// This process's router: the health service behind a check of the bearer token
    /// (the permission table is the guard's business, not the channel's).
    async fn router(key: &TokenKey) -> tonic::service::Routes {
        watched_router(key, Arc::default()).await
    }

    /// Who each call came from: the token's subject, and the user it acts for.
    type Callers = Arc<Mutex<Vec<(String, Option<String>)>>>;

    /// [`router`], noting who each call came from.
    async fn watched_router(key: &TokenKey, callers: Callers) -> tonic::service::Routes {
        let (reporter, health) = tonic_health::server::health_reporter();
        reporter
            .set_service_status("", tonic_health::ServingStatus::Serving)
            .await;
        let key = key.clone();
        let token_check = move |req: tonic::Request<()>| {
            let header = req.metadata().get("authorization");
            let claims = key
                .verify_header(
                    header.and_then(|v| v.to_str().ok()),
                    "grpc.health.v1.Health",
                )
                .map_err(|e| tonic::Status::unauthenticated(e.to_string()))?;
            let seen = (claims.sub, claims.obo);
            callers.lock().expect("lock").push(seen);
            Ok(req)
        };
        let guarded = tonic::service::interceptor::InterceptedService::new(health, token_check);
        tonic::service::Routes::new(guarded)
    }

    fn check() -> HealthCheckRequest {
        HealthCheckRequest::default()
    }

    #[tokio::test]
    async fn a_call_in_this_process_passes_the_guard_with_the_service_token() {
        let key = TokenKey::generate();
        let loopback = Loopback::default();
        loopback.bind(router(&key).await);
        let mut client = HealthClient::new(PeerChannel::local(&loopback, key, "tests"));
        let reply = client
            .check(request(check(), "corr-1"))
            .await
            .expect("served");
        assert_eq!(reply.into_inner().status, ServingStatus::Serving as i32);
    }

    #[tokio::test]
    async fn a_call_made_for_a_user_names_them_even_with_a_non_ascii_id() {
        let key = TokenKey::generate();
        let callers = Arc::default();
        let loopback = Loopback::serving(watched_router(&key, Arc::clone(&callers)).await);
        let mut client = HealthClient::new(PeerChannel::local(&loopback, key, "notifications"));
        client
            .check(request_for(check(), "ольга", ""))
            .await
            .expect("served");
        client.check(request(check(), "")).await.expect("served");
        let seen = callers.lock().expect("lock").clone();
        assert_eq!(
            seen,
            vec![
                ("notifications".to_owned(), Some("ольга".to_owned())),
                ("notifications".to_owned(), None),
            ]
        );
    }

    #[tokio::test]
    async fn a_call_made_as_a_person_carries_their_token_not_the_services() {
        let key = TokenKey::generate();
        let callers = Arc::default();
        let loopback = Loopback::serving(watched_router(&key, Arc::clone(&callers)).await);
        let mut client = HealthClient::new(PeerChannel::local(&loopback, key.clone(), "web"));
        let olga = key
            .issue("olga", ringside_auth::Role::Agent, Duration::from_secs(60))
            .expect("a token");
        let as_olga = request_as(check(), &olga).expect("a header");
        client.check(as_olga).await.expect("served");
        let forged = request_as(check(), "not.a.token").expect("a header");
        let refused = client.check(forged).await.unwrap_err();
        assert_eq!(
            refused.code(),
            tonic::Code::Unauthenticated,
            "no fallback to the service's"
        );
        assert!(request_as(check(), "bad\nheader").is_none());
        let seen = callers.lock().expect("lock").clone();
        assert_eq!(seen, vec![("olga".to_owned(), None)]);
    }

    #[tokio::test]
    async fn a_token_signed_with_another_key_is_refused_by_the_guard() {
        let loopback = Loopback::default();
        loopback.bind(router(&TokenKey::generate()).await);
        let stranger = PeerChannel::local(&loopback, TokenKey::generate(), "tests");
        let refused = HealthClient::new(stranger)
            .check(check())
            .await
            .unwrap_err();
        assert_eq!(refused.code(), tonic::Code::Unauthenticated);
        assert!(matches!(PeerError::from(refused), PeerError::Internal(_)));
    }

    #[tokio::test]
    async fn a_call_made_before_the_router_is_bound_waits_for_it() {
        let key = TokenKey::generate();
        let loopback = Loopback::default();
        let mut client = HealthClient::new(PeerChannel::local(&loopback, key.clone(), "tests"));
        let call = tokio::spawn(async move { client.check(check()).await });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!call.is_finished());
        loopback.bind(router(&key).await);
        assert!(call.await.expect("joined").is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn a_router_never_bound_answers_unavailable() {
        let loopback = Loopback::default();
        let channel = PeerChannel::local(&loopback, TokenKey::generate(), "tests");
        let refused = HealthClient::new(channel).check(check()).await.unwrap_err();
        assert_eq!(refused.code(), tonic::Code::Unavailable);
    }
}
