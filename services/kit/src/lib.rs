//! What every Ringside service is made of, shared by purpose and nothing more: the
//! request context built from the authenticated caller ([`Ctx`]), the one mapping from
//! an error's kind to a `tonic::Status` ([`error`]), the helpers of every gRPC edge
//! ([`grpc`]: replies, refused fields, ids, page tokens), the scaffold of the bus
//! handlers that change records ([`consume`]: ask, then apply once with the inbox
//! claim), and the one way to call another
//! service ([`peer`]): its generated gRPC client over a [`peer::PeerChannel`], which is
//! either a socket to the service's replicas or, in the all-in-one process, the very
//! gRPC router the process serves — guard, handlers and all — with no socket between.
//! Record visibility where stores apply it ([`scope`]: the query condition, the team
//! a record given to someone is stamped with). What every edge a browser talks to
//! shares is here too: the session cookie and the
//! refusal of unsafe requests from other sites ([`browser`]), and who a request came
//! from behind trusted proxies ([`net`]). The audit trail's writer outside staff
//! ([`audit`]). Domain rules, SQL and the bus transports
//! live elsewhere.

pub mod audit;
pub mod browser;
pub mod consume;
pub mod error;
pub mod grpc;
pub mod net;
pub mod peer;
pub mod scope;

pub use error::{ErrorKind, Kind, PeerError};
pub use peer::{Loopback, PeerChannel};

/// Who asked for a change and which piece of work it belongs to: the user (or service)
/// the caller's token names, with their role and teams, and the correlation id
/// carried through every event the change causes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ctx {
    pub actor: String,
    pub correlation_id: String,
    /// The caller's role; `None` for work the service does by itself.
    pub role: Option<ringside_auth::Role>,
    pub teams: Vec<String>,
}

impl Ctx {
    /// The context of a gRPC call, from the claims the guard put in and the
    /// `x-correlation-id` header (a new id when there is none).
    pub fn of<T>(req: &tonic::Request<T>) -> Ctx {
        let caller = ringside_auth::Caller::of(req);
        Ctx {
            actor: caller.actor,
            correlation_id: caller.correlation_id,
            role: caller.role,
            teams: caller.teams,
        }
    }

    /// A change made by `actor` itself (a service applying an event, a timer firing).
    pub fn new(actor: &str, correlation_id: &str) -> Ctx {
        Ctx {
            actor: actor.to_owned(),
            correlation_id: correlation_id.to_owned(),
            ..Ctx::default()
        }
    }

    /// The records of `entity` this caller sees and may assign (everything, for the
    /// service's own work).
    pub fn scope(
        &self,
        entity: ringside_auth::visibility::Entity,
    ) -> ringside_auth::visibility::Scope {
        use ringside_auth::visibility::{Scope, reach};
        match self.role {
            Some(role) => Scope {
                reach: reach(role, entity),
                user: self.actor.clone(),
                teams: self.teams.clone(),
            },
            None => Scope::all(),
        }
    }
}
