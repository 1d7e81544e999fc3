//! The inbox (`/inbox`): conversations from Telegram, email and web forms (a form's
//! request is answered by email) across every client
//! the person sees, latest first, in one of five views — waiting for an answer
//! (theirs and nobody's), mine, unassigned, my teams', all. A conversation
//! (`/inbox/{id}`) opens beside the list: its thread oldest first, the client's side
//! panel, and the answer, sent in the channel the client wrote from (`POST
//! /inbox/{id}/reply`: notifications' `SendMessage` answering the client's latest
//! message, so an email stays in its thread and a Telegram answer goes to the same
//! chat). A client nobody owns is taken in one click (`POST /inbox/{id}/take`). The
//! list and the thread refresh themselves when the call bar's socket says a
//! conversation changed (`inbox` frames); what they show is asked for again as the
//! person.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use ringside_proto::activities::v1 as apb;
use ringside_proto::contacts::v1 as cpb;
use ringside_proto::notifications::v1 as npb;
use serde::Deserialize;
use tonic::Status;

use crate::lang::Tr;
use crate::names::Names;
use crate::page::{Chrome, Notice, When, encoded, failure, go_to, html, refusal};
use crate::timeline::Kind;
use crate::{Viewer, Web};

/// Conversations per page of the list.
const LIST_PAGE: i32 = 30;
/// Messages of a thread shown (the latest).
const THREAD_PAGE: i32 = 50;
/// Longest answer, in characters (Telegram's limit is 4,096).
const MAX_REPLY: usize = 4_000;

/// Which conversations the list shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    Waiting,
    Mine,
    Unassigned,
    Team,
    All,
}

impl View {
    const ALL: [View; 5] = [
        View::Waiting,
        View::Mine,
        View::Unassigned,
        View::Team,
        View::All,
    ];

    fn parse(name: &str) -> View {
        View::ALL
            .into_iter()
            .find(|v| v.name() == name)
            .unwrap_or(View::Waiting)
    }

    fn name(self) -> &'static str {
        match self {
            View::Waiting => "waiting",
            View::Mine => "mine",
            View::Unassigned => "unassigned",
            View::Team => "team",
            View::All => "all",
        }
    }

    fn label(self, t: &Tr) -> &'static str {
        match self {
            View::Waiting => t.inbox_waiting,
            View::Mine => t.inbox_mine,
            View::Unassigned => t.inbox_unassigned,
            View::Team => t.inbox_team,
            View::All => t.inbox_all,
        }
    }

    /// The activities query of this view: whose, and waiting only.
    fn query(self) -> (apb::InboxOwner, bool) {
        match self {
            View::Waiting => (apb::InboxOwner::MineOrUnassigned, true),
            View::Mine => (apb::InboxOwner::Mine, false),
            View::Unassigned => (apb::InboxOwner::Unassigned, false),
            View::Team => (apb::InboxOwner::Team, false),
            View::All => (apb::InboxOwner::Unspecified, false),
        }
    }
}

/// A view's link above the list.
struct Tab {
    href: String,
    label: &'static str,
    current: bool,
}

/// One conversation in the list.
pub struct Item {
    /// The conversation's id (its link's, so a refreshed list keeps the focus).
    pub id: String,
    pub href: String,
    pub name: String,
    pub channel: &'static str,
    pub preview: String,
    pub when: When,
    pub waiting: bool,
    /// We wrote last.
    pub ours: bool,
    pub current: bool,
}

/// One message of a thread.
struct Message {
    when: When,
    text: String,
    inbound: bool,
}

/// The open conversation: its thread, its client, and how to answer.
struct Open {
    id: String,
    channel: &'static str,
    /// How the answer goes, said above the form.
    reply_by: &'static str,
    subject: String,
    messages: Vec<Message>,
    client_name: String,
    client_href: String,
    owner: String,
    identities: Vec<String>,
    /// Nobody owns the client: the person may take it.
    takeable: bool,
    /// The client's owner's id, as the page shows it (a give expects it still).
    owner_id: String,
    /// Whom the person may give the client to (none: they may not).
    people: Vec<(String, String)>,
    /// The office's canned answers, to put into the answer.
    replies: Vec<apb::CannedReply>,
}

#[derive(Template)]
#[template(path = "inbox.html")]
struct InboxPage<'a> {
    c: Chrome<'a>,
    view: &'static str,
    /// Where this list page starts, for the list's own refreshes.
    after: String,
    /// The open conversation's id ("" when none).
    open_id: String,
    tabs: Vec<Tab>,
    items: Vec<Item>,
    older: String,
    open: Option<Open>,
    notice: Notice,
    draft: String,
}

#[derive(Deserialize, Default)]
pub struct Show {
    #[serde(default)]
    show: String,
    #[serde(default)]
    after: String,
    #[serde(default)]
    sent: String,
    /// The conversation open beside the list, marked in it (the list's refresh).
    #[serde(default)]
    open: String,
    /// A canned answer to start the answer with (the picker, without the script).
    #[serde(default)]
    canned: String,
}

#[derive(Deserialize)]
pub struct ReplyForm {
    #[serde(default)]
    text: String,
    #[serde(default)]
    show: String,
}

/// The inbox's routes.
pub fn routes() -> axum::Router<Web> {
    use axum::routing::{get, post};
    axum::Router::new()
        .route("/inbox", get(list))
        .route("/inbox/{id}", get(conversation))
        // An answer of 4,000 Cyrillic characters is some 24 KiB as a form.
        .route(
            "/inbox/{id}/reply",
            post(reply).layer(axum::extract::DefaultBodyLimit::max(64 * 1024)),
        )
        .route("/inbox/{id}/take", post(take))
        .route("/inbox/{id}/give", post(give))
}

/// `GET /inbox?show=…`: the list alone (`open` marks a conversation in it).
async fn list(State(web): State<Web>, viewer: Viewer, Query(q): Query<Show>) -> Response {
    let view = View::parse(&q.show);
    let page = Listed {
        view,
        after: &q.after,
        marked: &q.open,
    };
    show(&web, &viewer, page, None, Notice::none(), "").await
}

/// Which page of which view of the list, and the conversation marked in it.
#[derive(Clone, Copy)]
struct Listed<'a> {
    view: View,
    after: &'a str,
    marked: &'a str,
}

impl<'a> Listed<'a> {
    fn first(view: View, open: &'a str) -> Self {
        Listed {
            view,
            after: "",
            marked: open,
        }
    }
}

/// `GET /inbox/{id}?show=…`: the list and the conversation.
async fn conversation(
    State(web): State<Web>,
    viewer: Viewer,
    Path(id): Path<String>,
    Query(q): Query<Show>,
) -> Response {
    let notice = match q.sent.is_empty() {
        true => Notice::none(),
        false => Notice::ok(viewer.lang.tr().reply_sent),
    };
    let page = Listed {
        view: View::parse(&q.show),
        after: &q.after,
        marked: &id,
    };
    let draft = match q.canned.is_empty() {
        true => String::new(),
        false => (crate::replies::list(&web, &viewer).await)
            .unwrap_or_default()
            .into_iter()
            .find(|r| r.id == q.canned)
            .map(|r| r.text)
            .unwrap_or_default(),
    };
    show(&web, &viewer, page, Some(&id), notice, &draft).await
}

/// The page: the list `listed`, and conversation `open` beside it.
async fn show(
    web: &Web,
    viewer: &Viewer,
    listed: Listed<'_>,
    open: Option<&str>,
    notice: Notice,
    draft: &str,
) -> Response {
    let t = viewer.lang.tr();
    let opened = async {
        match open {
            Some(id) => opened(web, viewer, t, id).await.map(Some),
            None => Ok(None),
        }
    };
    match futures::try_join!(items(web, viewer, t, listed), opened) {
        Ok(((items, older), open)) => {
            let status = match notice.text.is_empty() || notice.ok {
                true => StatusCode::OK,
                false => StatusCode::BAD_REQUEST,
            };
            let view = listed.view;
            let page = InboxPage {
                c: viewer.chrome(web),
                view: view.name(),
                after: listed.after.to_owned(),
                open_id: listed.marked.to_owned(),
                tabs: tabs(t, view),
                items,
                older,
                draft: match &open {
                    Some(o) => personal(draft, &o.client_name),
                    None => draft.to_owned(),
                },
                open,
                notice,
            };
            html(status, &page, &web.push_url)
        }
        Err(s) => failure(viewer.chrome(web), &s),
    }
}

/// The conversations waiting for the person's answer (theirs and nobody's), for My
/// day, and whether more wait than are shown.
pub async fn waiting(web: &Web, viewer: &Viewer) -> Result<(Vec<Item>, bool), Status> {
    let t = viewer.lang.tr();
    let (items, older) = items(web, viewer, t, Listed::first(View::Waiting, "")).await?;
    Ok((items, !older.is_empty()))
}

fn tabs(t: &Tr, view: View) -> Vec<Tab> {
    let tab = |v: View| Tab {
        href: format!("/inbox?show={}", v.name()),
        label: v.label(t),
        current: v == view,
    };
    View::ALL.into_iter().map(tab).collect()
}

/// The address of conversation `id` in `view`.
fn address(id: &str, view: &str) -> String {
    format!("/inbox/{}?show={view}", encoded(id))
}

/// One page of `view`'s conversations from `after`, each with its client's name,
/// and the address of the next page ("" at the end).
async fn items(
    web: &Web,
    viewer: &Viewer,
    t: &'static Tr,
    listed: Listed<'_>,
) -> Result<(Vec<Item>, String), Status> {
    let view = listed.view;
    let (owner, waiting) = view.query();
    let message = apb::ListInboxRequest {
        owner: owner.into(),
        waiting,
        page_size: LIST_PAGE,
        page_token: listed.after.to_owned(),
        ..Default::default()
    };
    let page = web.activities().list_inbox(viewer.ask(message)?).await?;
    let page = page.into_inner();
    let older = match page.next_page_token.as_str() {
        "" => String::new(),
        token => format!("/inbox?show={}&after={}", view.name(), encoded(token)),
    };
    let items = conversation_items(web, viewer, t, page.conversations, listed).await;
    Ok((items, older))
}

/// Conversations as list items, their clients' names asked for at once.
async fn conversation_items(
    web: &Web,
    viewer: &Viewer,
    t: &'static Tr,
    conversations: Vec<apb::Conversation>,
    listed: Listed<'_>,
) -> Vec<Item> {
    let names = conversations
        .iter()
        .map(|c| client_name(web, viewer, t, c.links.as_ref()));
    let names = futures::future::join_all(names).await;
    conversations
        .into_iter()
        .zip(names)
        .map(|(c, name)| Item {
            href: address(&c.id, listed.view.name()),
            name,
            channel: channel(t, c.channel),
            when: When::of(c.last_at.as_ref()),
            waiting: c.waiting,
            ours: c.last_direction == i32::from(apb::Direction::Outbound),
            current: listed.marked == c.id,
            preview: c.preview,
            id: c.id,
        })
        .collect()
}

/// The client a conversation is with: its contact, else its lead.
fn client_of(links: Option<&apb::Links>) -> Option<(Kind, String)> {
    let links = links?;
    match (links.contact_id.as_str(), links.lead_id.as_str()) {
        ("", "") => None,
        ("", lead) => Some((Kind::Lead, lead.to_owned())),
        (contact, _) => Some((Kind::Contact, contact.to_owned())),
    }
}

/// A client's name for the list; a generic word when it cannot be had (the list
/// still shows the conversation, which the person sees).
async fn client_name(
    web: &Web,
    viewer: &Viewer,
    t: &'static Tr,
    links: Option<&apb::Links>,
) -> String {
    match client_of(links) {
        Some((kind, id)) => client(web, viewer, t, kind, &id)
            .await
            .map(|c| c.name)
            .unwrap_or_else(|_| t.unknown_client.to_owned()),
        None => t.unknown_client.to_owned(),
    }
}

/// What the side panel shows of a client.
struct Client {
    name: String,
    owner_id: String,
    identities: Vec<String>,
}

/// A client's name, else their first identity, else a word for it.
fn name_of(t: &'static Tr, name: String, identities: &[String]) -> String {
    match (name.trim(), identities.first()) {
        ("", Some(identity)) => identity.clone(),
        ("", None) => t.unknown_client.to_owned(),
        _ => name,
    }
}

async fn client(
    web: &Web,
    viewer: &Viewer,
    t: &'static Tr,
    kind: Kind,
    id: &str,
) -> Result<Client, Status> {
    let client = ask_client(web, viewer, kind, id).await?;
    Ok(Client {
        name: name_of(t, client.name, &client.identities),
        ..client
    })
}

async fn ask_client(web: &Web, viewer: &Viewer, kind: Kind, id: &str) -> Result<Client, Status> {
    let values = |ids: Vec<cpb::Identity>| ids.into_iter().map(|i| i.value).collect();
    match kind {
        Kind::Lead => {
            let message = cpb::GetLeadRequest { id: id.to_owned() };
            let l = web.contacts().get_lead(viewer.ask(message)?).await?;
            let l = l.into_inner();
            Ok(Client {
                name: l.name,
                owner_id: l.owner_id,
                identities: values(l.identities),
            })
        }
        _ => {
            let message = cpb::GetContactRequest { id: id.to_owned() };
            let c = web.contacts().get_contact(viewer.ask(message)?).await?;
            let c = c.into_inner();
            Ok(Client {
                name: c.name,
                owner_id: c.owner_id,
                identities: values(c.identities),
            })
        }
    }
}

fn channel(t: &'static Tr, channel: i32) -> &'static str {
    match apb::Channel::try_from(channel) {
        Ok(apb::Channel::Telegram) => t.channel_telegram,
        Ok(apb::Channel::Email) => t.channel_email,
        Ok(apb::Channel::Web) => t.channel_web,
        Ok(apb::Channel::Phone) => t.channel_phone,
        _ => "",
    }
}

/// The conversation, the client it is with, and its latest messages.
async fn fetch(
    web: &Web,
    viewer: &Viewer,
    id: &str,
) -> Result<(apb::Conversation, (Kind, String), Vec<apb::Entry>), Status> {
    let message = apb::GetConversationRequest { id: id.to_owned() };
    let c = web
        .activities()
        .get_conversation(viewer.ask(message)?)
        .await?;
    let c = c.into_inner();
    let who = client_of(c.links.as_ref()).ok_or_else(|| Status::not_found("no client"))?;
    let message = apb::TimelineRequest {
        subject: Some(who.0.subject(&who.1)),
        conversation_id: c.id.clone(),
        page_size: THREAD_PAGE,
        ..Default::default()
    };
    let entries = web.activities().timeline(viewer.ask(message)?).await?;
    Ok((c, who, entries.into_inner().entries))
}

async fn opened(web: &Web, viewer: &Viewer, t: &'static Tr, id: &str) -> Result<Open, Status> {
    let (c, (kind, client_id), entries) = fetch(web, viewer, id).await?;
    // A refresh shows the thread alone: the forms' choices are not asked for.
    let whole = !viewer.refreshing();
    let people = async {
        match whole {
            true => crate::names::colleagues(web, viewer).await,
            false => Vec::new(),
        }
    };
    let replies = async {
        match whole {
            // Without the canned answers the conversation is still answered.
            true => crate::replies::list(web, viewer).await.unwrap_or_default(),
            false => Vec::new(),
        }
    };
    let (client, people, replies) =
        futures::join!(client(web, viewer, t, kind, &client_id), people, replies);
    let client = client?;
    let replies = (replies.into_iter())
        .map(|mut r| {
            r.text = personal(&r.text, &client.name);
            r
        })
        .collect();
    let names = Names::of(web, viewer, [client.owner_id.as_str()]).await;
    let messages = entries.into_iter().rev().map(|e| message(t, e)).collect();
    // A web form is answered by email.
    let reply_by = match apb::Channel::try_from(c.channel) {
        Ok(apb::Channel::Email | apb::Channel::Web) => t.reply_by_email,
        _ => t.reply_by_telegram,
    };
    Ok(Open {
        id: c.id,
        reply_by,
        channel: channel(t, c.channel),
        subject: c.subject,
        messages,
        client_href: kind.page(&client_id),
        owner: names.label(&client.owner_id),
        takeable: client.owner_id.is_empty(),
        owner_id: client.owner_id,
        people,
        replies,
        identities: client.identities,
        client_name: client.name,
    })
}

/// A canned answer for this client: `{name}` (or `{имя}`) becomes their name.
fn personal(text: &str, name: &str) -> String {
    text.replace("{name}", name).replace("{имя}", name)
}

/// Whether the client wrote `entry` (an entry of a conversation is a message).
fn inbound(entry: &apb::Entry) -> bool {
    match &entry.detail {
        Some(apb::entry::Detail::Message(m)) => m.direction != i32::from(apb::Direction::Outbound),
        _ => true,
    }
}

/// An entry as the thread shows it: a message's text; a form's line, then what the
/// client wrote in it.
fn message(t: &'static Tr, entry: apb::Entry) -> Message {
    let text = match &entry.detail {
        Some(apb::entry::Detail::Form(_)) => {
            let said = crate::said::summary(t, &entry).unwrap_or_default();
            [said, entry.text.clone()]
                .into_iter()
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
                .join("\n")
        }
        _ => entry.text.clone(),
    };
    Message {
        when: When::of(entry.occurred_at.as_ref()),
        inbound: inbound(&entry),
        text,
    }
}

/// `POST /inbox/{id}/reply`: the answer goes to the client in the conversation's
/// channel, answering their latest message; then the conversation again. An
/// answer that cannot go is said on the page, the draft kept.
async fn reply(
    State(web): State<Web>,
    viewer: Viewer,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<ReplyForm>,
) -> Response {
    let t = viewer.lang.tr();
    let view = View::parse(&form.show);
    let page = Listed::first(view, &id);
    let text = form.text.trim();
    let wrong = match text.chars().count() {
        0 => Some(t.reply_empty),
        n if n > MAX_REPLY => Some(t.reply_too_long),
        _ => None,
    };
    if let Some(why) = wrong {
        return show(&web, &viewer, page, Some(&id), Notice::error(why), text).await;
    }
    match send(&web, &viewer, &id, text).await {
        Ok(Sent::Yes) => go_to(&headers, &format!("{}&sent=1", address(&id, view.name()))),
        Ok(Sent::No { blocked }) => {
            let why = match blocked {
                true => t.reply_blocked,
                false => t.reply_failed,
            };
            show(&web, &viewer, page, Some(&id), Notice::error(why), text).await
        }
        Err(s) if s.code() == tonic::Code::NotFound => failure(viewer.chrome(&web), &s),
        Err(s) => {
            let (_, why) = refusal(&s, t, t.reply_failed);
            show(&web, &viewer, page, Some(&id), Notice::error(why), text).await
        }
    }
}

/// Whether the channel took an answer, and if not, whether the client blocked it.
enum Sent {
    Yes,
    No { blocked: bool },
}

/// Sends `text` in conversation `id`: as an answer to the client's latest message
/// there (the same chat, the same email thread), or, when none of the latest is
/// theirs, in the conversation's channel under its subject.
async fn send(web: &Web, viewer: &Viewer, id: &str, text: &str) -> Result<Sent, Status> {
    let (c, (kind, client_id), entries) = fetch(web, viewer, id).await?;
    let mut message = npb::SendMessageRequest {
        text: text.to_owned(),
        ..Default::default()
    };
    match entries.iter().find(|e| inbound(e)) {
        Some(answered) => message.reply_to_entry_id = answered.id.clone(),
        None => {
            // A web form's conversation goes on by email.
            message.channel = match apb::Channel::try_from(c.channel) {
                Ok(apb::Channel::Web) => apb::Channel::Email.into(),
                _ => c.channel,
            };
            message.subject = c.subject;
        }
    }
    match kind {
        Kind::Lead => message.lead_id = client_id,
        _ => message.contact_id = client_id,
    }
    let sent = web
        .notifications()
        .send_message(viewer.ask(message)?)
        .await?;
    let sent = sent.into_inner();
    Ok(match sent.status.as_str() {
        "sent" => Sent::Yes,
        _ => Sent::No {
            blocked: sent.blocked,
        },
    })
}

/// `POST /inbox/{id}/take`: the conversation's client becomes the person's, when
/// nobody has them yet.
async fn take(
    State(web): State<Web>,
    viewer: Viewer,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<ReplyForm>,
) -> Response {
    let view = View::parse(&form.show);
    let page = Listed::first(view, &id);
    let t = viewer.lang.tr();
    match assign_to_me(&web, &viewer, &id).await {
        Ok(true) => go_to(&headers, &address(&id, view.name())),
        Ok(false) => {
            let notice = Notice::error(t.client_taken);
            show(&web, &viewer, page, Some(&id), notice, "").await
        }
        Err(s) if s.code() == tonic::Code::NotFound => failure(viewer.chrome(&web), &s),
        Err(s) => refused(&web, &viewer, page, &id, &s).await,
    }
}

#[derive(Deserialize)]
pub struct GiveForm {
    #[serde(default)]
    show: String,
    /// Whom to.
    #[serde(default)]
    to: String,
    /// The owner the page showed.
    #[serde(default)]
    was: String,
}

/// `POST /inbox/{id}/give`: a manager gives the conversation's client to a
/// colleague, if the owner is still the one their page showed; else the page again
/// with who has the client now.
async fn give(
    State(web): State<Web>,
    viewer: Viewer,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<GiveForm>,
) -> Response {
    let view = View::parse(&form.show);
    let page = Listed::first(view, &id);
    let t = viewer.lang.tr();
    let to = form.to.trim();
    if to.is_empty() {
        let notice = Notice::error(t.give_whom);
        return show(&web, &viewer, page, Some(&id), notice, "").await;
    }
    let outcome = assign(&web, &viewer, &id, to, &form.was).await;
    match outcome {
        Ok(true) => go_to(&headers, &address(&id, view.name())),
        Ok(false) => {
            let notice = Notice::error(t.client_changed_hands);
            show(&web, &viewer, page, Some(&id), notice, "").await
        }
        Err(s) if s.code() == tonic::Code::NotFound => failure(viewer.chrome(&web), &s),
        Err(s) => refused(&web, &viewer, page, &id, &s).await,
    }
}

/// The conversation again, saying why a take or give was refused, with the
/// refusal's status.
async fn refused(web: &Web, viewer: &Viewer, page: Listed<'_>, id: &str, s: &Status) -> Response {
    let t = viewer.lang.tr();
    let (code, why) = refusal(s, t, t.went_wrong);
    let mut shown = show(web, viewer, page, Some(id), Notice::error(why), "").await;
    if shown.status() == StatusCode::BAD_REQUEST {
        *shown.status_mut() = code;
    }
    shown
}

/// Gives the conversation's client to the person if nobody has them yet (`false`:
/// someone else has — the page was shown before they took them).
async fn assign_to_me(web: &Web, viewer: &Viewer, id: &str) -> Result<bool, Status> {
    let me = viewer.person.id.clone();
    match assign(web, viewer, id, &me, "").await {
        // Taken by someone at the same moment: by the person themselves is fine.
        Ok(false) => Ok(owner_now(web, viewer, id).await? == me),
        done => done,
    }
}

/// The conversation's client and its kind.
async fn client_of_conversation(
    web: &Web,
    viewer: &Viewer,
    id: &str,
) -> Result<(Kind, String), Status> {
    let message = apb::GetConversationRequest { id: id.to_owned() };
    let c = web
        .activities()
        .get_conversation(viewer.ask(message)?)
        .await?;
    client_of(c.into_inner().links.as_ref()).ok_or_else(|| Status::not_found("no client"))
}

async fn owner_now(web: &Web, viewer: &Viewer, id: &str) -> Result<String, Status> {
    let (kind, client_id) = client_of_conversation(web, viewer, id).await?;
    Ok(ask_client(web, viewer, kind, &client_id).await?.owner_id)
}

/// Gives the conversation's client to `to` while their owner is still `expected`
/// ("": nobody): `false` when someone else's change came first. Contacts decides in
/// one transaction, so two people taking one client at once cannot both have them.
async fn assign(
    web: &Web,
    viewer: &Viewer,
    id: &str,
    to: &str,
    expected: &str,
) -> Result<bool, Status> {
    let (kind, client_id) = client_of_conversation(web, viewer, id).await?;
    let expected_owner_id = Some(expected.to_owned());
    let done = match kind {
        Kind::Lead => {
            let message = cpb::AssignLeadRequest {
                id: client_id,
                owner_id: to.to_owned(),
                expected_owner_id,
            };
            web.contacts()
                .assign_lead(viewer.ask(message)?)
                .await
                .map(drop)
        }
        _ => {
            let message = cpb::UpdateContactRequest {
                id: client_id,
                owner_id: Some(to.to_owned()),
                expected_owner_id,
                ..Default::default()
            };
            web.contacts()
                .update_contact(viewer.ask(message)?)
                .await
                .map(drop)
        }
    };
    match done {
        Ok(()) => Ok(true),
        // Contacts' compare-and-set: someone else's take or give came first.
        Err(s) if s.code() == tonic::Code::Aborted => Ok(false),
        Err(s) => Err(s),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_canned_answer_names_the_client() {
        assert_eq!(
            personal("Здравствуйте, {имя}!", "Анна"),
            "Здравствуйте, Анна!"
        );
        assert_eq!(personal("Hello {name}, {name}", "Ann"), "Hello Ann, Ann");
        assert_eq!(personal("Hello", "Ann"), "Hello");
    }

    #[test]
    fn a_view_is_read_from_its_name_and_waiting_is_the_default() {
        for view in View::ALL {
            assert_eq!(View::parse(view.name()), view);
        }
        assert_eq!(View::parse(""), View::Waiting);
        assert_eq!(View::parse("everything"), View::Waiting);
        assert_eq!(
            View::Waiting.query(),
            (apb::InboxOwner::MineOrUnassigned, true)
        );
    }

    #[test]
    fn a_conversation_is_with_its_contact_before_its_lead() {
        let links = apb::Links {
            contact_id: "c1".into(),
            lead_id: "l1".into(),
            ..Default::default()
        };
        assert_eq!(client_of(Some(&links)), Some((Kind::Contact, "c1".into())));
        let lead = apb::Links {
            lead_id: "l1".into(),
            ..Default::default()
        };
        assert_eq!(client_of(Some(&lead)), Some((Kind::Lead, "l1".into())));
        assert_eq!(client_of(Some(&apb::Links::default())), None);
    }

    #[test]
    fn a_conversations_address_keeps_the_view() {
        assert_eq!(address("a/b", "mine"), "/inbox/a%2Fb?show=mine");
    }
}
