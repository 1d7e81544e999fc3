//! The workspace's pages on PostgreSQL, each next to the gRPC calls it makes, made
//! directly in the same run: the server time of the client page (a client with
//! 10,000 of 1,000,000 timeline entries), the deals board (a pipeline of 100,000
//! deals) and the "Who is this?" search (1,000,000 contacts and 100,000 deals), asked over HTTP with a
//! signed-in session — against the same calls, in the same order and concurrency,
//! over gRPC with the session's token. The difference is the page's own cost:
//! reading the cookie, rendering the template, the HTTP answer.
//!
//!     RINGSIDE_BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \
//!     cargo bench -p ringside --bench workspace
//!
//! It seeds a fresh database `ringside_bench_workspace`: 1,000,000 contacts with a
//! phone each (owned by 20 agents), 1,000,000 timeline entries (1 % for one client),
//! 100,000 deals in the default pipeline; and one admin who signs in with a password.

mod common;

use std::time::{Duration, Instant};

use common::{Counts, Stats, bearer, measure_with};
use ringside::app::{self, Mode};
use ringside_auth::{Role, TokenKey};
use ringside_proto::activities::v1 as apb;
use ringside_proto::activities::v1::activities_client::ActivitiesClient;
use ringside_proto::contacts::v1 as cpb;
use ringside_proto::contacts::v1::contacts_client::ContactsClient;
use ringside_proto::deals::v1 as dpb;
use ringside_proto::deals::v1::deals_client::DealsClient;
use ringside_proto::staff::v1 as spb;
use ringside_proto::staff::v1::staff_client::StaffClient;
use ringside_storage::Db;
use tonic::transport::Channel;

const BASE_MS: i64 = 1_700_000_000_000;
/// The client the page is about: every hundredth entry is theirs.
const CLIENT: &str = "c000004242";
const PASSWORD: &str = "correct horse battery staple";

const PAGES: Counts = Counts {
    warm_up: 20,
    sequential: 300,
    callers: 4,
    concurrent: 400,
};

fn count(var: &str, default: i64) -> i64 {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let server = std::env::var("RINGSIDE_BENCH_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let contacts = count("RINGSIDE_BENCH_CONTACTS", 1_000_000);
    let entries = count("RINGSIDE_BENCH_ENTRIES", 1_000_000);
    let deals = count("RINGSIDE_BENCH_DEALS", 100_000);
    let url = common::fresh_database(&server, "ringside_bench_workspace").await?;
    let dir = tempfile::tempdir()?;
    let mut settings = common::bench_settings(dir.path().to_path_buf());
    settings.database_url = Some(url.clone());
    let key = TokenKey::generate();
    // Started first: it migrates the database and makes the default pipeline.
    let running = app::start(&settings, Mode::AllInOne, key.clone()).await?;
    let db = Db::connect(&url, 20).await?;
    let seeded = Instant::now();
    seed(&db, contacts, entries, deals).await?;
    println!(
        "seeded {contacts} contacts, {entries} timeline entries, {deals} deals in {:.1?}",
        seeded.elapsed()
    );
    let channel = Channel::from_shared(format!("http://{}", running.grpc_addr))?
        .connect()
        .await?;
    let cookie = sign_in(&key, &channel, running.http_addr).await?;
    let web = Web {
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()?,
        base: format!("http://{}", running.http_addr),
        cookie,
    };
    let session = web
        .cookie
        .trim_start_matches("ringside_session=")
        .to_owned();
    // Web's own token for staff's OpenSession, made anew for each measurement (it
    // lives minutes; web keeps one for a while too).
    let grpc = || Grpc {
        channel: channel.clone(),
        session: session.clone(),
        web_token: key
            .issue_service("web", "ringside.staff.v1.Staff", None)
            .expect("a service token"),
    };

    let client_page = measure_with(
        PAGES,
        |_| web.clone(),
        |w| w.get(format!("/contacts/{CLIENT}")),
    )
    .await;
    let g = grpc();
    let client_calls = measure_with(PAGES, |_| g.clone(), |g| g.client_page()).await;
    let board_page = measure_with(PAGES, |_| web.clone(), |w| w.get("/deals".into())).await;
    let g = grpc();
    let board_calls = measure_with(PAGES, |_| g.clone(), |g| g.board()).await;
    let query = |i: usize| format!("Client {}", 1 + (i * 7919) % contacts as usize);
    let search_page = measure_with(PAGES, |i| (web.clone(), query(i)), |(w, q)| w.search(q)).await;
    let g = grpc();
    let search_calls = measure_with(PAGES, |i| (g.clone(), query(i)), |(g, q)| g.search(q)).await;
    // A number as people write it here: the national trunk prefix, no plus.
    let phone = |i: usize| format!("8 912 {:07}", 1 + (i * 7919) % contacts as usize);
    let phone_page = measure_with(PAGES, |i| (web.clone(), phone(i)), |(w, q)| w.search(q)).await;
    let g = grpc();
    let phone_calls = measure_with(PAGES, |i| (g.clone(), phone(i)), |(g, q)| g.search(q)).await;
    println!();
    println!(
        "| page | page p50 ms | page p99 ms | pages/s | its gRPC calls p50 ms | p99 ms | ratio p50 | ratio p99 |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    row(
        "client page (10,000 entries of 1,000,000)",
        &client_page,
        &client_calls,
    );
    row("deals board (100,000 deals)", &board_page, &board_calls);
    row(
        "search by a name (1,000,000 contacts, 100,000 deals)",
        &search_page,
        &search_calls,
    );
    row("search by a phone number", &phone_page, &phone_calls);
    running.stop().await?;
    Ok(())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn row(label: &str, page: &Stats, calls: &Stats) {
    println!(
        "| {label} | {:.2} | {:.2} | {:.1} | {:.2} | {:.2} | {:.2}× | {:.2}× |",
        ms(page.p50),
        ms(page.p99),
        page.per_sec,
        ms(calls.p50),
        ms(calls.p99),
        ms(page.p50) / ms(calls.p50),
        ms(page.p99) / ms(calls.p99),
    );
}

/// An admin with a password, signed in at the pages: the session cookie.
async fn sign_in(
    key: &TokenKey,
    channel: &Channel,
    http: std::net::SocketAddr,
) -> anyhow::Result<String> {
    let token = key.issue("bench-setup", Role::Admin, Duration::from_secs(3600))?;
    let mut staff = StaffClient::with_interceptor(channel.clone(), bearer(&token));
    let details = spb::UserDetails {
        name: "Bench".into(),
        login: "bench@bench.test".into(),
        role: "admin".into(),
        ..Default::default()
    };
    let user = spb::CreateUserRequest {
        id: "bench".into(),
        details: Some(details),
    };
    staff.create_user(user).await?;
    let password = spb::SetPasswordRequest {
        user_id: "bench".into(),
        password: PASSWORD.into(),
    };
    staff.set_password(password).await?;
    let answer = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?
        .post(format!("http://{http}/signin"))
        .header("sec-fetch-site", "same-origin")
        .form(&[("login", "bench@bench.test"), ("password", PASSWORD)])
        .send()
        .await?;
    let cookie = answer
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("ringside_session="))
        .and_then(|v| v.split(';').next())
        .ok_or_else(|| anyhow::anyhow!("no session cookie: {}", answer.status()))?;
    Ok(cookie.to_owned())
}

/// The pages, asked as the signed-in admin.
#[derive(Clone)]
struct Web {
    http: reqwest::Client,
    base: String,
    cookie: String,
}

impl Web {
    fn get(self, path: String) -> impl Future<Output = ()> + Send + 'static {
        let request = self.http.get(format!("{}{path}", self.base));
        answered(request.header("cookie", self.cookie))
    }

    fn search(self, query: String) -> impl Future<Output = ()> + Send + 'static {
        let request = self.http.post(format!("{}/search", self.base));
        let request = request
            .header("cookie", self.cookie)
            .header("sec-fetch-site", "same-origin")
            .form(&[("q", query)]);
        answered(request)
    }
}

async fn answered(request: reqwest::RequestBuilder) {
    let answer = request.send().await.expect("the page");
    assert!(answer.status().is_success(), "{}", answer.status());
    answer.bytes().await.expect("its body");
}

/// The calls a page makes, made directly: the session opened (as every page does),
/// then what the page asks, as the person, in the page's order.
#[derive(Clone)]
struct Grpc {
    channel: Channel,
    session: String,
    web_token: String,
}

impl Grpc {
    /// The session's person's token, as `OpenSession` gives it to every page.
    async fn open(&self) -> String {
        let mut staff =
            StaffClient::with_interceptor(self.channel.clone(), bearer(&self.web_token));
        let opened = spb::OpenSessionRequest {
            session_secret: self.session.clone(),
        };
        let opened = staff.open_session(opened).await.expect("a session");
        opened.into_inner().access_token
    }

    async fn client_page(self) {
        let token = self.open().await;
        let b = || bearer(&token);
        let mut contacts = ContactsClient::with_interceptor(self.channel.clone(), b());
        let get = cpb::GetContactRequest { id: CLIENT.into() };
        let contact = contacts
            .get_contact(get)
            .await
            .expect("client")
            .into_inner();
        let mut staff = StaffClient::with_interceptor(self.channel.clone(), b());
        let names = spb::NamesOfRequest {
            ids: vec![contact.owner_id],
        };
        staff.names_of(names).await.expect("names");
        let subject = || apb::Subject {
            subject: Some(apb::subject::Subject::ContactId(CLIENT.into())),
        };
        let mut a = ActivitiesClient::with_interceptor(self.channel.clone(), b());
        let mut t = ActivitiesClient::with_interceptor(self.channel.clone(), b());
        let mut d = DealsClient::with_interceptor(self.channel.clone(), b());
        let tasks = apb::ListTasksRequest {
            subject: Some(subject()),
            page_size: 20,
            ..Default::default()
        };
        let filter = dpb::DealFilter {
            contact_id: CLIENT.into(),
            status: dpb::DealStatus::Open.into(),
            ..Default::default()
        };
        let deals = dpb::ListDealsRequest {
            filter: Some(filter),
            page_size: 20,
            ..Default::default()
        };
        let timeline = apb::TimelineRequest {
            subject: Some(subject()),
            page_size: 50,
            ..Default::default()
        };
        let (x, y, z) = futures::join!(
            a.list_tasks(tasks),
            d.list_deals(deals),
            t.timeline(timeline)
        );
        x.expect("tasks");
        y.expect("deals");
        z.expect("timeline");
    }

    async fn board(self) {
        let token = self.open().await;
        let mut views = DealsClient::with_interceptor(self.channel.clone(), bearer(&token));
        views
            .list_views(dpb::ListViewsRequest::default())
            .await
            .expect("views");
        let mut a = DealsClient::with_interceptor(self.channel.clone(), bearer(&token));
        let mut b = DealsClient::with_interceptor(self.channel.clone(), bearer(&token));
        let kanban = dpb::KanbanRequest {
            filter: Some(dpb::DealFilter::default()),
            sort: Some(dpb::Sort::default()),
            page_size: 20,
        };
        let (pipelines, kanban) = futures::join!(
            a.list_pipelines(dpb::ListPipelinesRequest {}),
            b.kanban(kanban)
        );
        pipelines.expect("pipelines");
        let kanban = kanban.expect("kanban").into_inner();
        let owners = kanban
            .columns
            .iter()
            .flat_map(|c| c.deals.iter().map(|d| d.owner_id.clone()));
        let mut ids: Vec<String> = owners.collect();
        ids.sort();
        ids.dedup();
        let mut staff = StaffClient::with_interceptor(self.channel.clone(), bearer(&token));
        staff
            .names_of(spb::NamesOfRequest { ids })
            .await
            .expect("names");
    }

    async fn search(self, query: String) {
        let token = self.open().await;
        let mut a = ContactsClient::with_interceptor(self.channel.clone(), bearer(&token));
        let mut b = ContactsClient::with_interceptor(self.channel.clone(), bearer(&token));
        let mut c = ContactsClient::with_interceptor(self.channel.clone(), bearer(&token));
        let leads = cpb::ListLeadsRequest {
            query: query.clone(),
            page_size: 10,
            ..Default::default()
        };
        let contacts = cpb::ListContactsRequest {
            query: query.clone(),
            page_size: 10,
            ..Default::default()
        };
        let companies = cpb::ListCompaniesRequest {
            query: query.clone(),
            page_size: 10,
            ..Default::default()
        };
        let mut d = DealsClient::with_interceptor(self.channel.clone(), bearer(&token));
        let deals = dpb::ListDealsRequest {
            filter: Some(dpb::DealFilter {
                query,
                ..Default::default()
            }),
            sort: Some(dpb::Sort {
                field: dpb::SortField::Updated.into(),
                ascending: false,
            }),
            page_size: 10,
            ..Default::default()
        };
        let (l, k, m, n) = futures::join!(
            a.list_leads(leads),
            b.list_contacts(contacts),
            c.list_companies(companies),
            d.list_deals(deals)
        );
        l.expect("leads");
        let found = k.expect("contacts").into_inner().contacts;
        m.expect("companies");
        let deals = n.expect("deals").into_inner().deals;
        let owners = found.into_iter().map(|c| c.owner_id);
        let ids = owners
            .chain(deals.into_iter().map(|d| d.owner_id))
            .collect();
        let mut staff = StaffClient::with_interceptor(self.channel.clone(), bearer(&token));
        staff
            .names_of(spb::NamesOfRequest { ids })
            .await
            .expect("names");
    }
}

async fn seed(db: &Db, contacts: i64, entries: i64, deals: i64) -> anyhow::Result<()> {
    let statements = [
        "INSERT INTO contacts (id, name, name_lower, owner_id, custom_fields, created_at, updated_at) \
         SELECT 'c' || lpad(g::text, 9, '0'), 'Client ' || g, 'client ' || g, \
                'agent-' || (g % 20), '{}', 0, 0 \
         FROM generate_series(1, $1::bigint) g",
        "INSERT INTO identities (kind, value, contact_id, rev_digits) \
         SELECT 'phone', '+7912' || lpad(g::text, 7, '0'), 'c' || lpad(g::text, 9, '0'), \
                reverse('7912' || lpad(g::text, 7, '0')) \
         FROM generate_series(1, $1::bigint) g",
    ];
    for sql in statements {
        sqlx::query(sql).bind(contacts).execute(db.pool()).await?;
    }
    sqlx::query(
        "INSERT INTO activity_entries (id, kind, occurred_at, contact_id, summary, body, \
         created_at, updated_at) \
         SELECT 'e' || lpad(g::text, 12, '0'), \
                CASE g % 2 WHEN 0 THEN 'note' ELSE 'message' END, \
                $2 + g * 1000, \
                CASE WHEN g % 100 = 0 THEN $3 ELSE 'c' || lpad((1 + g % 99991)::text, 9, '0') END, \
                'Asked for the offer again', 'Asked for the offer again; call after lunch', $2, $2 \
         FROM generate_series(1, $1::bigint) g",
    )
    .bind(entries)
    .bind(BASE_MS)
    .bind(CLIENT)
    .execute(db.pool())
    .await?;
    let stages: Vec<(String, String)> = sqlx::query_as(
        "SELECT s.id, s.pipeline_id FROM deal_stages s JOIN deal_pipelines p \
         ON p.id = s.pipeline_id WHERE p.is_default = 1 AND s.kind = 'open' ORDER BY s.position",
    )
    .fetch_all(db.pool())
    .await?;
    anyhow::ensure!(stages.len() == 4, "the default pipeline has 4 open stages");
    sqlx::query(
        "INSERT INTO deals (id, title, pipeline_id, stage_id, status, amount_minor, currency, \
         owner_id, team_id, close_day, created_at, updated_at, stage_entered_at, title_lower) \
         SELECT 'd' || lpad(g::text, 9, '0'), 'Deal ' || g, $2, \
                (ARRAY[$3, $4, $5, $6])[1 + g % 4], 'open', (g * 7919) % 1000000, \
                (ARRAY['EUR', 'RUB', 'USD'])[1 + g % 3], 'agent-' || (g % 20), '', \
                20400 + g % 365, $7 + g * 300000, $7 + g * 300000, $7 + g * 300000, \
                'deal ' || g \
         FROM generate_series(1, $1::bigint) g",
    )
    .bind(deals)
    .bind(stages[0].1.clone())
    .bind(stages[0].0.clone())
    .bind(stages[1].0.clone())
    .bind(stages[2].0.clone())
    .bind(stages[3].0.clone())
    .bind(BASE_MS)
    .execute(db.pool())
    .await?;
    sqlx::query("VACUUM ANALYZE").execute(db.pool()).await?;
    Ok(())
}
