//! The guard in front of every gRPC service: it verifies the caller's token for this
//! service (`UNAUTHENTICATED` without a valid one: a people's access token, or a
//! service token whose audience is this service), checks the method against the permission
//! table for the token's role (`PERMISSION_DENIED` for a method not granted or not
//! listed; a method the table opens to anyone needs no token), and hands the verified [`Claims`] to the handler in the request
//! extensions. It wraps the generated server, so it sees the method's path, and it is
//! the same for a call over a socket and one through the process's own router.

use std::convert::Infallible;
use std::task::{Context, Poll};

use futures::future::{Either, Ready, ready};
use tonic::body::Body;
use tonic::server::NamedService;

use crate::policy::{self, Refusal};
use crate::{Claims, TokenKey};

/// A gRPC service behind the token check and the permission table.
#[derive(Clone, Debug)]
pub struct Guarded<S> {
    inner: S,
    key: TokenKey,
}

impl<S: NamedService> Guarded<S> {
    pub fn new(inner: S, key: TokenKey) -> Self {
        Guarded { inner, key }
    }

    /// The caller's claims, if the call may go ahead (none for a method open to
    /// anyone, which checks a credential of its own).
    fn admit<B>(&self, req: &http::Request<B>) -> Result<Option<Claims>, tonic::Status> {
        let path = req.uri().path();
        let action = policy::action(path);
        if action == Some(policy::Action::Anyone) {
            return Ok(None);
        }
        let header = req
            .headers()
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        let claims = self
            .key
            .verify_header(header, S::NAME)
            .map_err(|e| tonic::Status::unauthenticated(e.to_string()))?;
        match policy::check_action(claims.role, action) {
            // A service acts for a user only to file the note they typed.
            Ok(action) if claims.obo.is_some() && action != policy::Action::NoteCalls => {
                tracing::info!(method = path, service = %claims.sub, "call on behalf of a user refused");
                Err(tonic::Status::permission_denied(
                    "a service acts for a user only to file their call notes",
                ))
            }
            Ok(_) => Ok(Some(claims)),
            Err(refusal) => {
                tracing::info!(
                    method = path,
                    user = %claims.sub,
                    role = ?claims.role,
                    ?refusal,
                    "call refused"
                );
                Err(tonic::Status::permission_denied(match refusal {
                    Refusal::UnknownMethod => "this method is not open to anyone".to_owned(),
                    Refusal::NotGranted(action) => {
                        format!("role {:?} may not {action:?}", claims.role)
                    }
                }))
            }
        }
    }
}

impl<S: NamedService> NamedService for Guarded<S> {
    const NAME: &'static str = S::NAME;
}

impl<S, B> tower::Service<http::Request<B>> for Guarded<S>
where
    S: NamedService,
    S: tower::Service<http::Request<B>, Response = http::Response<Body>, Error = Infallible>,
{
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = Either<Ready<Result<http::Response<Body>, Infallible>>, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: http::Request<B>) -> Self::Future {
        match self.admit(&req) {
            Ok(claims) => {
                if let Some(claims) = claims {
                    req.extensions_mut().insert(claims);
                }
                Either::Right(self.inner.call(req))
            }
            Err(status) => Either::Left(ready(Ok(status.into_http()))),
        }
    }
}
