//! `POST /forms/{form}`: a web form's post becomes a lead (or lands on the client who
//! sent it) and a timeline entry. The checks come in the order that costs least:
//! origin (403), rate per client address (429), size (413), encoding (415, 400), the
//! honeypot (a silent success), the fields (422, or a redirect back to the page for a
//! browser). Then contacts resolves the email and phone — a stranger becomes exactly
//! one lead — and `form.submitted` is published and confirmed before the answer, so
//! what was acknowledged is not lost. A repeated post (a double click, a retry with the
//! same `Idempotency-Key`) carries the same submission id, which activities files once.

pub mod config;
pub mod limit;
mod reply;
pub mod submission;

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use axum::extract::connect_info::ConnectInfo;
use axum::extract::{DefaultBodyLimit, Path, Request, State};
use axum::http::{StatusCode, header};
use axum::response::Response;
use axum::routing::post;
use ringside_bus::{Bus, EventPayload};
use ringside_proto::activities::v1 as apb;
use ringside_proto::contacts::v1 as cpb;
use ringside_proto::events::v1 as ev;
use sha2::{Digest, Sha256};

use self::config::{FormConfig, Forms};
use self::limit::RateLimit;
use self::reply::Reply;
use self::submission::{BodyError, Submission};
use ringside_kit::PeerError;
use ringside_kit::net::AllowList;

use crate::peers::Contacts;
use crate::status::{Channel, Channels, Kind, Note};

#[derive(Clone)]
struct FormsState {
    forms: Arc<Forms>,
    contacts: Contacts,
    bus: Arc<dyn Bus>,
    limit: Arc<RateLimit>,
    /// Proxies whose `X-Forwarded-For` names the client.
    proxies: Arc<AllowList>,
    /// What the admin's channel page says of each form.
    channels: Arc<BTreeMap<String, Arc<Channel>>>,
}

/// `proxies`: the reverse proxies (an ingress, a load balancer) in front of ingest;
/// behind them, the client is the last address in `X-Forwarded-For` that is not one
/// of theirs. Anyone else's `X-Forwarded-For` is ignored: it could say anything.
/// Each form is registered in `channels`.
pub fn router(
    forms: Forms,
    contacts: Contacts,
    bus: Arc<dyn Bus>,
    proxies: AllowList,
    channels: &Channels,
) -> axum::Router {
    channels.add_forms(forms.iter().map(|(key, form)| form.describe(key)).collect());
    let watched = forms
        .keys()
        .map(|key| (key.clone(), channels.add(Kind::Form, key.clone(), "")))
        .collect();
    let state = FormsState {
        channels: Arc::new(watched),
        forms: Arc::new(forms),
        contacts,
        bus,
        limit: Arc::default(),
        proxies: Arc::new(proxies),
    };
    axum::Router::new()
        .route("/forms/{form}", post(submit).options(preflight))
        // Each form has its own limit, applied while reading the body.
        .layer(DefaultBodyLimit::disable())
        .with_state(state)
}

/// The CORS preflight of a script posting JSON from an allowed origin.
async fn preflight(
    State(s): State<FormsState>,
    Path(name): Path<String>,
    req: Request,
) -> Response {
    let Some(form) = s.forms.get(&name) else {
        return reply::status(StatusCode::NOT_FOUND);
    };
    Reply::new(form, req.headers()).preflight()
}

async fn submit(State(s): State<FormsState>, Path(name): Path<String>, req: Request) -> Response {
    let Some(form) = s.forms.get(&name) else {
        return reply::status(StatusCode::NOT_FOUND);
    };
    let reply = Reply::new(form, req.headers());
    let answer = accept(&s, &name, form, &reply, req).await;
    let (outcome, response) = answer.unwrap_or_else(|refused| refused);
    metrics::counter!("ringside_forms_posts_total", "form" => name.clone(), "outcome" => outcome)
        .increment(1);
    if let Some(channel) = s.channels.get(&name) {
        channel.note(match outcome {
            ACCEPTED => Note::Took,
            UNAVAILABLE => Note::Failed("contacts or the bus did not answer".into()),
            refused => Note::Refused(refused),
        });
    }
    tracing::info!(form = %name, outcome, "form post");
    response
}

type Refusal = (&'static str, Response);

/// The outcome of a post that was filed.
const ACCEPTED: &str = "accepted";
/// The outcome of a post that could not be filed for a reason of ours.
const UNAVAILABLE: &str = "unavailable";

async fn accept(
    s: &FormsState,
    name: &str,
    form: &FormConfig,
    reply: &Reply,
    req: Request,
) -> Result<(&'static str, Response), Refusal> {
    if !reply.origin_allowed {
        return Err((
            "forbidden_origin",
            reply.error(
                StatusCode::FORBIDDEN,
                "posts from this origin are not accepted",
            ),
        ));
    }
    let ip = client_ip(&req, &s.proxies);
    if let Err(wait) = s
        .limit
        .admit(name, ip, form.per_ip_per_minute, Instant::now())
    {
        return Err(("rate_limited", reply.too_many(wait)));
    }
    let idempotency_key = req
        .headers()
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let pairs = read_pairs(form, reply, req).await?;
    if submission::is_bot(form, &pairs) {
        return Ok(("honeypot", reply.success(None))); // told nothing, stored nothing
    }
    let sub = submission::check(form, &pairs).map_err(|e| ("invalid", reply.invalid(&e)))?;
    let id = submission_id(name, ip, &sub, idempotency_key.as_deref());
    let resolved = s
        .contacts
        .resolve(&id, resolve_request(&sub))
        .await
        .map_err(|e| match e {
            PeerError::Invalid(why) => {
                let fields = BTreeMap::from([("form".to_owned(), why)]);
                ("invalid", reply.invalid(&fields))
            }
            _ => (UNAVAILABLE, reply.unavailable()),
        })?;
    let event = submitted(name, &id, &sub, reply.page_url.clone(), resolved);
    let message = crate::publisher::message(&id, EventPayload::FormSubmitted(event));
    if s.bus.publish(&[message]).await.is_err() {
        return Err((UNAVAILABLE, reply.unavailable()));
    }
    Ok((ACCEPTED, reply.success(Some(&id))))
}

/// The body's pairs, read within the form's size limit.
async fn read_pairs(
    form: &FormConfig,
    reply: &Reply,
    req: Request,
) -> Result<submission::Pairs, Refusal> {
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let body =
        crate::read_body(req, form.max_body_bytes)
            .await
            .map_err(|refused| match refused {
                crate::BodyRefused::TooLarge => (
                    "too_large",
                    reply.error(refused.status(), "the form is too large"),
                ),
                crate::BodyRefused::Broken => (
                    "unreadable",
                    reply.error(refused.status(), "the body could not be read"),
                ),
            })?;
    submission::read(&content_type, body)
        .await
        .map_err(|e| match e {
            BodyError::Unsupported => (
                "unsupported",
                reply.error(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "send application/x-www-form-urlencoded, multipart/form-data or JSON",
                ),
            ),
            BodyError::Malformed(why) => ("malformed", reply.error(StatusCode::BAD_REQUEST, &why)),
        })
}

/// The client's address (see [`ringside_kit::net::client_ip`]).
fn client_ip(req: &Request, proxies: &AllowList) -> IpAddr {
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    ringside_kit::net::client_ip(peer, req.headers(), proxies)
}

/// The same post — by its `Idempotency-Key`, else by its content from the same address
/// within ten minutes — gets the same id, so activities files it once.
fn submission_id(form: &str, ip: IpAddr, sub: &Submission, key: Option<&str>) -> String {
    let mut hash = Sha256::new();
    hash.update(form.as_bytes());
    match key.filter(|k| !k.is_empty() && k.len() <= 200) {
        Some(key) => hash.update(format!("\0key\0{key}")),
        None => {
            let bucket = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() / 600);
            hash.update(format!(
                "\0{ip}\0{bucket}\0{:?}",
                (&sub.fields, &sub.custom)
            ));
        }
    }
    let digest = hash.finalize();
    digest[..16].iter().map(|b| format!("{b:02x}")).collect()
}

/// Email first (the more personal identity), then the phone; a new lead gets both.
fn resolve_request(sub: &Submission) -> cpb::ResolveRequest {
    let identity = |kind: cpb::IdentityKind, value: &str| {
        (!value.is_empty()).then(|| crate::inbound::identity(kind, value))
    };
    let mut identities = [
        identity(cpb::IdentityKind::Email, sub.field("email")),
        identity(cpb::IdentityKind::Phone, sub.field("phone")),
    ]
    .into_iter()
    .flatten();
    cpb::ResolveRequest {
        identity: identities.next(),
        also: identities.collect(),
        name: sub.field("name").to_owned(),
        company_name: sub.field("company").to_owned(),
        source: Some(cpb::LeadSource {
            channel: "web".into(),
            campaign: sub.utm.get("utm_campaign").cloned().unwrap_or_default(),
        }),
        lookup_only: false,
        ..Default::default()
    }
}

fn submitted(
    form: &str,
    id: &str,
    sub: &Submission,
    page_url: String,
    resolved: cpb::ResolveResponse,
) -> ev::FormSubmitted {
    let mut event = ev::FormSubmitted {
        submission_id: id.to_owned(),
        form: Some(apb::FormDetail {
            form: form.to_owned(),
            fields: sub
                .fields
                .iter()
                .chain(&sub.custom)
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            page_url,
            referrer: sub.referrer.clone(),
            utm: sub.utm.clone().into_iter().collect(),
        }),
        submitted_at: Some(SystemTime::now().into()),
        ..Default::default()
    };
    match resolved.party.and_then(|p| p.party) {
        Some(cpb::party::Party::Contact(c)) => {
            event.contact_id = c.id;
            event.company_id = c.company_id;
        }
        Some(cpb::party::Party::Lead(l)) => event.lead_id = l.id,
        None => {}
    }
    event
}
