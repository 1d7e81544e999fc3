//! The guard in front of every gRPC service: it verifies the caller's token for this
//! service (`UNAUTHENTICATED` without a valid one: a people's access token, or a
//! service token whose audience is this service), checks the method against the permission
//! table for the token's role (`PERMISSION_DENIED` for a method not granted or not
//! listed; a method the table opens to anyone needs no token), and hands the verified [`Claims`] to the handler in the request
//! extensions. It wraps the generated server, so it sees the method's path, and it is
//! the same for a call over a socket and one through the process's own router. A
//! refusal of a caller it knows (`PERMISSION_DENIED`) goes to the audit trail, when
//! the guard has one ([`Guarded::with_audit`]).

use std::convert::Infallible;
use std::task::{Context, Poll};

use futures::future::{Either, Ready, ready};
use tonic::body::Body;
use tonic::server::NamedService;

use crate::audit::{Audit, AuditLine};
use crate::policy::{self, Refusal};
use crate::{Claims, TokenKey};

/// The longest method path an audit line keeps.
const MAX_METHOD: usize = 160;
/// Where the trail's lines from other services are written.
const RECORD_AUDIT: &str = "/ringside.staff.v1.Staff/RecordAudit";

fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// A gRPC service behind the token check and the permission table.
#[derive(Clone, Debug)]
pub struct Guarded<S> {
    inner: S,
    key: TokenKey,
    audit: Option<Audit>,
}

impl<S: NamedService> Guarded<S> {
    pub fn new(inner: S, key: TokenKey) -> Self {
        Guarded {
            inner,
            key,
            audit: None,
        }
    }

    /// Refusals go to `audit` too.
    pub fn with_audit(mut self, audit: Audit) -> Self {
        self.audit = Some(audit);
        self
    }

    /// `claims`'s call of `method` refused (`why`): logged, and written to the trail
    /// (but for a service's refused write to the trail itself, which must not feed
    /// itself).
    fn refused(&self, claims: &Claims, method: &str, why: String) -> tonic::Status {
        // The path is the caller's to choose: only so much of it is kept.
        let method: String = method.chars().take(MAX_METHOD).collect();
        tracing::info!(method, user = %claims.sub, role = ?claims.role, why, "call refused");
        let own_writer = method == RECORD_AUDIT && claims.role == crate::Role::Service;
        if let Some(audit) = self.audit.as_ref().filter(|_| !own_writer) {
            audit.record(AuditLine {
                at: now_millis(),
                actor: claims.sub.clone(),
                action: "call_refused".into(),
                subject: String::new(),
                outcome: "permission_denied".into(),
                detail: format!("{method}: {why} (as {})", claims.role.as_str()),
            });
        }
        tonic::Status::permission_denied(why)
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
                let why = "a service acts for a user only to file their call notes";
                Err(self.refused(&claims, path, why.to_owned()))
            }
            Ok(_) => Ok(Some(claims)),
            Err(refusal) => {
                let why = match refusal {
                    Refusal::UnknownMethod => "this method is not open to anyone".to_owned(),
                    Refusal::NotGranted(action) => {
                        format!("role {:?} may not {action:?}", claims.role)
                    }
                };
                Err(self.refused(&claims, path, why))
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
