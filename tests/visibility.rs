//! Who sees which deals, contacts, leads and companies, in both ways of running: two
//! teams with their heads and agents, and records in the pool. Each person's lists
//! (every page), counts, kanban and funnel hold exactly their records; a record
//! outside one's scope does not exist for them (read, change, move, look up by
//! phone); a record goes only to people within the giver's reach, and a refusal
//! writes nothing.

use std::collections::BTreeSet;

use ringside_auth::Role;
use ringside_proto::activities::v1 as apb;
use ringside_proto::contacts::v1 as cpb;
use ringside_proto::deals::v1 as dpb;
use support::{Deals, Person, Suite};
use tonic::Code;

fn deals_suite(suites: &[Suite]) -> &Suite {
    suites
        .iter()
        .find(|s| s.running.grpc_services.contains(&"ringside.deals.v1.Deals"))
        .expect("a suite serving deals")
}

/// Who works here: team north (Anna heads it; Olga and Oleg), team south (Boris
/// heads it; Bella); the admin.
const PEOPLE: [(&str, Role, &str); 6] = [
    ("anna", Role::Manager, "north"),
    ("olga", Role::Agent, "north"),
    ("oleg", Role::Agent, "north"),
    ("boris", Role::Manager, "south"),
    ("bella", Role::Agent, "south"),
    ("root", Role::Admin, ""),
];

async fn staff_the_office(suites: &[Suite]) {
    let staff = support::staff_suite(suites);
    staff.form_team("north", &[]).await;
    staff.form_team("south", &[]).await;
    let people: Vec<Person> = PEOPLE
        .iter()
        .map(|(id, role, team)| Person {
            role: role.as_str(),
            teams: match *team {
                "north" => &["north"],
                "south" => &["south"],
                _ => &[],
            },
            ..Person::new(id, id)
        })
        .collect();
    staff.hire(&people).await;
    staff.form_team("north", &["anna"]).await;
    staff.form_team("south", &["boris"]).await;
}

/// The teams of one of [`PEOPLE`], as their token carries them, and their role.
fn member(id: &str) -> (Role, Vec<&'static str>) {
    let (_, role, team) = PEOPLE.iter().find(|(p, ..)| *p == id).expect("a person");
    let teams = [*team].into_iter().filter(|t| !t.is_empty()).collect();
    (*role, teams)
}

/// A contacts client for one of [`PEOPLE`].
async fn contacts_of(suites: &[Suite], id: &str) -> support::Client {
    let (role, teams) = member(id);
    let contacts = suites
        .iter()
        .find(|s| {
            s.running
                .grpc_services
                .contains(&"ringside.contacts.v1.Contacts")
        })
        .expect("a suite serving contacts");
    contacts.contacts_member(id, role, &teams).await
}

/// A deals client for one of [`PEOPLE`], with the teams their token carries.
async fn as_person(suites: &[Suite], id: &str) -> Deals {
    let (role, teams) = member(id);
    deals_suite(suites).deals_member(id, role, &teams).await
}

fn deal(title: &str, owner: &str) -> dpb::CreateDealRequest {
    dpb::CreateDealRequest {
        title: title.into(),
        amount_minor: 1000,
        currency: "EUR".into(),
        owner_id: owner.into(),
        ..Default::default()
    }
}

async fn create(suites: &[Suite], by: &str, title: &str, owner: &str) -> dpb::Deal {
    let mut deals = as_person(suites, by).await;
    let made = deals.create_deal(deal(title, owner)).await;
    let made = made.unwrap_or_else(|e| panic!("{by} creates {title}: {e}"));
    made.into_inner().deal.expect("a deal")
}

/// The deals of the office: (title, owner). Anna gives one to Olga; the admin puts
/// one in the pool.
async fn open_deals(suites: &[Suite]) -> String {
    for (by, title) in [
        ("olga", "olga 1"),
        ("olga", "olga 2"),
        ("olga", "olga 3"),
        ("oleg", "oleg 1"),
        ("oleg", "oleg 2"),
        ("bella", "bella 1"),
        ("bella", "bella 2"),
    ] {
        create(suites, by, title, "").await;
    }
    let given = create(suites, "anna", "anna for olga", "olga").await;
    assert_eq!(
        (given.owner_id.as_str(), given.team_id.as_str()),
        ("olga", "north")
    );
    let pool = create(suites, "root", "pool", "").await;
    let unassign = dpb::UpdateDealRequest {
        id: pool.id.clone(),
        owner_id: Some(String::new()),
        ..Default::default()
    };
    let mut root = as_person(suites, "root").await;
    root.update_deal(unassign).await.expect("into the pool");
    pool.id
}

/// Every deal `id` lists, page by page (two a page), and the total it reports.
async fn listed(suites: &[Suite], id: &str) -> (BTreeSet<String>, i64) {
    let mut deals = as_person(suites, id).await;
    let (mut titles, mut token) = (BTreeSet::new(), String::new());
    loop {
        let page = dpb::ListDealsRequest {
            page_size: 2,
            page_token: token,
            ..Default::default()
        };
        let page = deals.list_deals(page).await.expect("a page").into_inner();
        let total = page.total;
        titles.extend(page.deals.into_iter().map(|d| d.title));
        token = page.next_page_token;
        if token.is_empty() {
            return (titles, total);
        }
    }
}

/// How many deals `id`'s kanban counts, and the cards it shows (columns of 50).
async fn on_the_board(suites: &[Suite], id: &str) -> (i64, BTreeSet<String>) {
    let mut deals = as_person(suites, id).await;
    let board = dpb::KanbanRequest {
        page_size: 50,
        ..Default::default()
    };
    let board = deals.kanban(board).await.expect("a kanban").into_inner();
    let count = board.columns.iter().map(|c| c.count).sum();
    let cards = board.columns.into_iter().flat_map(|c| c.deals);
    (count, cards.map(|d| d.title).collect())
}

/// How many deals `id`'s funnel counts (managers and admins read reports).
async fn in_the_funnel(suites: &[Suite], id: &str) -> i64 {
    let mut deals = as_person(suites, id).await;
    let now = std::time::SystemTime::now();
    let day = std::time::Duration::from_secs(86_400);
    let request = dpb::FunnelRequest {
        from: Some((now - day).into()),
        to: Some((now + day).into()),
        ..Default::default()
    };
    let report = deals.funnel(request).await.expect("a funnel").into_inner();
    report.total.expect("the total").deals
}

/// The code a call was refused with (`None`: it was not).
fn code<T>(answer: Result<tonic::Response<T>, tonic::Status>) -> Option<Code> {
    answer.err().map(|s| s.code())
}

fn titles(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|n| (*n).to_owned()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_person_sees_their_deals_their_teams_and_the_pool_and_no_more() {
    for suites in support::both_ways().await {
        let name = deals_suite(&suites).name;
        staff_the_office(&suites).await;
        open_deals(&suites).await;
        let north = [
            "olga 1",
            "olga 2",
            "olga 3",
            "oleg 1",
            "oleg 2",
            "anna for olga",
        ];
        let expected = [
            (
                "olga",
                titles(&["olga 1", "olga 2", "olga 3", "anna for olga", "pool"]),
            ),
            ("oleg", titles(&["oleg 1", "oleg 2", "pool"])),
            ("bella", titles(&["bella 1", "bella 2", "pool"])),
            (
                "anna",
                titles(&north).union(&titles(&["pool"])).cloned().collect(),
            ),
            ("boris", titles(&["bella 1", "bella 2", "pool"])),
            (
                "root",
                titles(&north)
                    .union(&titles(&["bella 1", "bella 2", "pool"]))
                    .cloned()
                    .collect(),
            ),
        ];
        for (id, sees) in expected {
            let n = sees.len() as i64;
            assert_eq!(
                listed(&suites, id).await,
                (sees.clone(), n),
                "{name}: {id}'s list"
            );
            assert_eq!(
                on_the_board(&suites, id).await,
                (n, sees),
                "{name}: {id}'s kanban"
            );
            if matches!(id, "anna" | "boris" | "root") {
                assert_eq!(in_the_funnel(&suites, id).await, n, "{name}: {id}'s funnel");
            }
        }
        for suite in suites {
            suite.stop().await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deal_outside_ones_scope_cannot_be_read_changed_or_given_away() {
    for suites in support::both_ways().await {
        let name = deals_suite(&suites).name;
        staff_the_office(&suites).await;
        let pool = open_deals(&suites).await;
        let bellas = create(&suites, "bella", "bella 3", "").await;
        let mut olga = as_person(&suites, "olga").await;
        let get = dpb::GetDealRequest {
            id: bellas.id.clone(),
        };
        assert_eq!(
            code(olga.get_deal(get.clone()).await),
            Some(Code::NotFound),
            "{name}"
        );
        let rename = dpb::UpdateDealRequest {
            id: bellas.id.clone(),
            title: Some("mine now".into()),
            ..Default::default()
        };
        assert_eq!(
            code(olga.update_deal(rename).await),
            Some(Code::NotFound),
            "{name}"
        );
        let win = dpb::WinDealRequest {
            id: bellas.id.clone(),
        };
        assert_eq!(
            code(olga.win_deal(win).await),
            Some(Code::NotFound),
            "{name}"
        );
        let take = |id: &str, owner: &str| dpb::UpdateDealRequest {
            id: id.into(),
            owner_id: Some(owner.into()),
            ..Default::default()
        };
        assert_eq!(
            code(olga.update_deal(take(&bellas.id, "olga")).await),
            Some(Code::NotFound),
            "{name}: nor take it"
        );
        assert_eq!(
            code(olga.update_deal(take(&bellas.id, "oleg")).await),
            Some(Code::NotFound),
            "{name}: nor give it to a teammate"
        );
        let mut root = as_person(&suites, "root").await;
        let unchanged = root.get_deal(get).await.expect("the deal").into_inner();
        assert_eq!(
            (
                unchanged.title.as_str(),
                unchanged.owner_id.as_str(),
                unchanged.status
            ),
            ("bella 3", "bella", dpb::DealStatus::Open as i32),
            "{name}: nothing changed"
        );

        // Giving away: an agent to themselves only; a manager within their team.
        let olgas = create(&suites, "olga", "olga 4", "").await;
        for owner in ["oleg", "bella", ""] {
            let refused = olga.update_deal(take(&olgas.id, owner)).await;
            assert_eq!(
                code(refused),
                Some(Code::PermissionDenied),
                "{name}: olga → {owner:?}"
            );
        }
        let refused = olga.create_deal(deal("for bella", "bella")).await;
        assert_eq!(code(refused), Some(Code::PermissionDenied), "{name}");
        let taken = olga
            .update_deal(take(&pool, "olga"))
            .await
            .expect("the pool's deal");
        let taken = taken.into_inner();
        assert_eq!(
            (taken.owner_id.as_str(), taken.team_id.as_str()),
            ("olga", "north"),
            "{name}"
        );
        let mut anna = as_person(&suites, "anna").await;
        let refused = anna.update_deal(take(&olgas.id, "bella")).await;
        assert_eq!(
            code(refused),
            Some(Code::PermissionDenied),
            "{name}: anna → bella"
        );
        let given = anna
            .update_deal(take(&olgas.id, "oleg"))
            .await
            .expect("to oleg");
        assert_eq!(given.into_inner().owner_id, "oleg", "{name}");
        let nobody = root.create_deal(deal("for a ghost", "ghost")).await;
        assert_eq!(
            code(nobody),
            Some(Code::InvalidArgument),
            "{name}: no such user"
        );
        let (all, total) = listed(&suites, "root").await;
        assert_eq!(total, 11, "{name}: the refusals wrote nothing: {all:?}");
        for suite in suites {
            suite.stop().await;
        }
    }
}

/// What the scopes rest on: the access token staff mints at sign-in names the
/// person's teams.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_mints_tokens_that_name_the_persons_teams() {
    let suites = vec![support::all_in_one().await];
    staff_the_office(&suites).await;
    let staff_suite = support::staff_suite(&suites);
    staff_suite.set_password("anna").await;
    let service = staff_suite.service_token("ringside.staff.v1.Staff");
    let mut staff = staff_suite.staff_with(service).await;
    let signed = ringside_proto::staff::v1::SignInRequest {
        login: support::login_of("anna"),
        password: support::PASSWORD.into(),
        client_address: "127.0.0.1".into(),
    };
    let secret = staff.sign_in(signed).await.expect("signed in").into_inner();
    let open = ringside_proto::staff::v1::OpenSessionRequest {
        session_secret: secret.session_secret,
    };
    let opened = staff.open_session(open).await.expect("opened").into_inner();
    let claims = staff_suite
        .key
        .verify(&opened.access_token, ringside_auth::token::PEOPLE_AUDIENCE)
        .expect("a people's token");
    assert_eq!(claims.sub, "anna");
    assert_eq!(claims.role, Role::Manager);
    assert_eq!(claims.teams, ["north"]);
    for suite in suites {
        suite.stop().await;
    }
}

/// The clients of the office: Olga's and Bella's own (with a phone each), one Anna
/// gives Oleg, one in the pool; a lead of Olga's and one in the pool; a company each
/// for Olga and Bella.
async fn open_clients(suites: &[Suite]) -> Clients {
    let contact = |name: &str, owner: &str, phone: &str| cpb::CreateContactRequest {
        name: name.into(),
        owner_id: owner.into(),
        identities: [phone]
            .into_iter()
            .filter(|p| !p.is_empty())
            .map(|p| cpb::Identity {
                kind: cpb::IdentityKind::Phone as i32,
                value: p.into(),
            })
            .collect(),
        ..Default::default()
    };
    let mut made = Vec::new();
    for (by, name, owner, phone) in [
        ("olga", "Olga's client", "", "+79120000001"),
        ("bella", "Bella's client", "", "+79120000002"),
        ("anna", "Anna's for Oleg", "oleg", ""),
        ("root", "Pool client", "", ""),
    ] {
        let mut contacts = contacts_of(suites, by).await;
        let c = contacts.create_contact(contact(name, owner, phone)).await;
        made.push(c.unwrap_or_else(|e| panic!("{by}: {e}")).into_inner());
    }
    let mut leads = Vec::new();
    for (by, name) in [("olga", "olga lead"), ("root", "pool lead")] {
        let mut contacts = contacts_of(suites, by).await;
        let lead = cpb::CreateLeadRequest {
            name: name.into(),
            ..Default::default()
        };
        let lead = contacts.create_lead(lead).await;
        leads.push(lead.unwrap_or_else(|e| panic!("{by}: {e}")).into_inner());
    }
    let mut companies = Vec::new();
    for (by, name) in [("olga", "Olga Co"), ("bella", "Bella Co")] {
        let mut contacts = contacts_of(suites, by).await;
        let company = cpb::CreateCompanyRequest {
            name: name.into(),
            ..Default::default()
        };
        let company = contacts.create_company(company).await.expect("a company");
        companies.push(company.into_inner());
    }
    let mut made = made.into_iter();
    Clients {
        olgas: made.next().expect("Olga's"),
        bellas: made.next().expect("Bella's"),
        pool_lead: leads.swap_remove(1),
        bella_co: companies.swap_remove(1),
    }
}

/// What [`open_clients`] made that the tests come back to.
struct Clients {
    olgas: cpb::Contact,
    bellas: cpb::Contact,
    pool_lead: cpb::Lead,
    bella_co: cpb::Company,
}

/// The names of the contacts, leads and companies `id` lists, page by page (two a
/// page).
async fn clients_listed(suites: &[Suite], id: &str) -> [BTreeSet<String>; 3] {
    let mut contacts = contacts_of(suites, id).await;
    let mut names = [BTreeSet::new(), BTreeSet::new(), BTreeSet::new()];
    let mut token = String::new();
    loop {
        let page = cpb::ListContactsRequest {
            page_size: 2,
            page_token: token,
            ..Default::default()
        };
        let page = contacts
            .list_contacts(page)
            .await
            .expect("contacts")
            .into_inner();
        names[0].extend(page.contacts.into_iter().map(|c| c.name));
        token = page.next_page_token;
        if token.is_empty() {
            break;
        }
    }
    loop {
        let page = cpb::ListLeadsRequest {
            page_size: 2,
            page_token: token,
            ..Default::default()
        };
        let page = contacts.list_leads(page).await.expect("leads").into_inner();
        names[1].extend(page.leads.into_iter().map(|l| l.name));
        token = page.next_page_token;
        if token.is_empty() {
            break;
        }
    }
    loop {
        let page = cpb::ListCompaniesRequest {
            page_size: 2,
            page_token: token,
            ..Default::default()
        };
        let page = contacts
            .list_companies(page)
            .await
            .expect("companies")
            .into_inner();
        names[2].extend(page.companies.into_iter().map(|c| c.name));
        token = page.next_page_token;
        if token.is_empty() {
            break;
        }
    }
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_person_sees_their_clients_their_teams_and_the_pool() {
    for suites in support::both_ways().await {
        let name = deals_suite(&suites).name;
        staff_the_office(&suites).await;
        let Clients {
            bellas,
            pool_lead,
            bella_co,
            ..
        } = open_clients(&suites).await;
        let olgas = ["Olga's client", "Pool client"];
        let expected: [(&str, [&[&str]; 3]); 6] = [
            ("olga", [&olgas, &["olga lead", "pool lead"], &["Olga Co"]]),
            (
                "oleg",
                [&["Anna's for Oleg", "Pool client"], &["pool lead"], &[]],
            ),
            (
                "bella",
                [
                    &["Bella's client", "Pool client"],
                    &["pool lead"],
                    &["Bella Co"],
                ],
            ),
            (
                "anna",
                [
                    &["Olga's client", "Anna's for Oleg", "Pool client"],
                    &["olga lead", "pool lead"],
                    &["Olga Co"],
                ],
            ),
            (
                "boris",
                [
                    &["Bella's client", "Pool client"],
                    &["pool lead"],
                    &["Bella Co"],
                ],
            ),
            (
                "root",
                [
                    &[
                        "Olga's client",
                        "Bella's client",
                        "Anna's for Oleg",
                        "Pool client",
                    ],
                    &["olga lead", "pool lead"],
                    &["Olga Co", "Bella Co"],
                ],
            ),
        ];
        for (id, sees) in expected {
            let sees = sees.map(titles);
            assert_eq!(
                clients_listed(&suites, id).await,
                sees,
                "{name}: {id}'s lists"
            );
        }

        // Bella's client does not exist for Olga: not by id, not by phone.
        let mut olga = contacts_of(&suites, "olga").await;
        let get = cpb::GetContactRequest {
            id: bellas.id.clone(),
        };
        assert_eq!(
            code(olga.get_contact(get).await),
            Some(Code::NotFound),
            "{name}"
        );
        let lookup = cpb::LookupByPhoneRequest {
            phone: "+79120000002".into(),
        };
        assert_eq!(
            code(olga.lookup_by_phone(lookup).await),
            Some(Code::NotFound),
            "{name}"
        );
        let mine = cpb::LookupByPhoneRequest {
            phone: "+79120000001".into(),
        };
        assert!(olga.lookup_by_phone(mine).await.is_ok(), "{name}: her own");
        // Bella's phone given to a new client of Olga's: taken, by whom is not said.
        let twin = cpb::CreateContactRequest {
            name: "Twin".into(),
            identities: vec![cpb::Identity {
                kind: cpb::IdentityKind::Phone as i32,
                value: "+79120000002".into(),
            }],
            ..Default::default()
        };
        let taken = olga.create_contact(twin.clone()).await.unwrap_err();
        assert_eq!(taken.code(), Code::AlreadyExists, "{name}");
        assert!(
            !taken.message().contains(&bellas.id),
            "{name}: {}",
            taken.message()
        );
        assert!(
            taken.message().contains("a record you do not see"),
            "{name}"
        );
        // Boris, Bella's head, sees hers and is told whose it is.
        let mut boris = contacts_of(&suites, "boris").await;
        let named = boris.create_contact(twin).await.unwrap_err();
        assert!(
            named.message().contains(&bellas.id),
            "{name}: {}",
            named.message()
        );
        let rename = cpb::UpdateContactRequest {
            id: bellas.id.clone(),
            name: Some("Taken".into()),
            ..Default::default()
        };
        assert_eq!(
            code(olga.update_contact(rename).await),
            Some(Code::NotFound),
            "{name}"
        );
        // Nor does giving it to someone else say it exists.
        let pass_on = cpb::UpdateContactRequest {
            id: bellas.id.clone(),
            owner_id: Some("oleg".into()),
            ..Default::default()
        };
        assert_eq!(
            code(olga.update_contact(pass_on).await),
            Some(Code::NotFound),
            "{name}"
        );
        // Deleting is a manager's; Anna heads the other team.
        let delete = cpb::DeleteContactRequest {
            id: bellas.id.clone(),
        };
        let mut anna = contacts_of(&suites, "anna").await;
        assert_eq!(
            code(anna.delete_contact(delete).await),
            Some(Code::NotFound),
            "{name}"
        );
        // Her own contact may not be given away, nor linked to Bella's company.
        let for_bella = cpb::CreateContactRequest {
            name: "For Bella".into(),
            owner_id: "bella".into(),
            ..Default::default()
        };
        let refused = olga.create_contact(for_bella).await;
        assert_eq!(code(refused), Some(Code::PermissionDenied), "{name}");
        let at_bella_co = cpb::CreateContactRequest {
            name: "At Bella Co".into(),
            company_id: bella_co.id.clone(),
            ..Default::default()
        };
        let refused = olga.create_contact(at_bella_co).await;
        assert_eq!(code(refused), Some(Code::NotFound), "{name}");

        // Leads: an agent takes one from the pool, but gives none away.
        let give = |owner: &str| cpb::AssignLeadRequest {
            id: pool_lead.id.clone(),
            owner_id: owner.into(),
            ..Default::default()
        };
        assert_eq!(
            code(olga.assign_lead(give("bella")).await),
            Some(Code::PermissionDenied),
            "{name}"
        );
        let taken = olga
            .assign_lead(give("olga"))
            .await
            .expect("taken")
            .into_inner();
        assert_eq!(
            (taken.owner_id.as_str(), taken.team_id.as_str()),
            ("olga", "north")
        );
        let mut bella = contacts_of(&suites, "bella").await;
        let get_lead = cpb::GetLeadRequest {
            id: pool_lead.id.clone(),
        };
        assert_eq!(
            code(bella.get_lead(get_lead).await),
            Some(Code::NotFound),
            "{name}: out of the pool, out of Bella's sight"
        );
        let work = cpb::SetLeadStatusRequest {
            id: pool_lead.id.clone(),
            status: cpb::LeadStatus::Working as i32,
            ..Default::default()
        };
        assert_eq!(
            code(bella.set_lead_status(work).await),
            Some(Code::NotFound)
        );
        let convert = cpb::ConvertLeadRequest {
            id: pool_lead.id.clone(),
            ..Default::default()
        };
        assert_eq!(
            code(bella.convert_lead(convert).await),
            Some(Code::NotFound)
        );
        let mut root = contacts_of(&suites, "root").await;
        let count = cpb::ListContactsRequest {
            page_size: 100,
            ..Default::default()
        };
        let all = root.list_contacts(count).await.expect("all").into_inner();
        assert_eq!(all.contacts.len(), 4, "{name}: the refusals wrote nothing");

        for suite in suites {
            suite.stop().await;
        }
    }
}

/// An activities client for one of [`PEOPLE`].
async fn activities_of(suites: &[Suite], id: &str) -> support::Activities {
    let (role, teams) = member(id);
    let activities = suites
        .iter()
        .find(|s| {
            s.running
                .grpc_services
                .contains(&"ringside.activities.v1.Activities")
        })
        .expect("a suite serving activities");
    activities.activities_member(id, role, &teams).await
}

fn about(contact: &cpb::Contact) -> Option<apb::Subject> {
    Some(apb::Subject {
        subject: Some(apb::subject::Subject::ContactId(contact.id.clone())),
    })
}

/// A note and a task on `contact`, by `id` (the task is theirs).
async fn note_and_task(suites: &[Suite], id: &str, contact: &cpb::Contact) -> (String, String) {
    let mut activities = activities_of(suites, id).await;
    let links = Some(apb::Links {
        contact_id: contact.id.clone(),
        ..Default::default()
    });
    let note = apb::AddNoteRequest {
        links: links.clone(),
        text: format!("{id}'s note"),
    };
    let note = activities
        .add_note(note)
        .await
        .expect("a note")
        .into_inner();
    let task = apb::CreateTaskRequest {
        title: format!("{id}'s task"),
        due_at: "2030-01-01T10:00:00Z".into(),
        links,
        ..Default::default()
    };
    let task = activities
        .create_task(task)
        .await
        .expect("a task")
        .into_inner();
    (note.id, task.id)
}

/// The titles of the open tasks `id` lists.
async fn tasks_listed(suites: &[Suite], id: &str) -> BTreeSet<String> {
    let mut activities = activities_of(suites, id).await;
    let all = apb::ListTasksRequest {
        page_size: 100,
        ..Default::default()
    };
    let tasks = activities
        .list_tasks(all)
        .await
        .expect("tasks")
        .into_inner();
    tasks.tasks.into_iter().map(|t| t.title).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timelines_notes_and_tasks_follow_the_clients_they_are_about() {
    for suites in support::both_ways().await {
        let name = deals_suite(&suites).name;
        staff_the_office(&suites).await;
        let Clients { olgas, bellas, .. } = open_clients(&suites).await;
        let (_, olgas_task) = note_and_task(&suites, "olga", &olgas).await;
        let (bellas_note, bellas_task) = note_and_task(&suites, "bella", &bellas).await;

        let mut olga = activities_of(&suites, "olga").await;
        let timeline = |contact: &cpb::Contact| apb::TimelineRequest {
            subject: about(contact),
            page_size: 10,
            ..Default::default()
        };
        let mine = olga
            .timeline(timeline(&olgas))
            .await
            .expect("hers")
            .into_inner();
        assert_eq!(mine.entries.len(), 1, "{name}: her note");
        let theirs = olga.timeline(timeline(&bellas)).await;
        assert_eq!(code(theirs), Some(Code::NotFound), "{name}");
        let entry = apb::GetEntryRequest {
            id: bellas_note.clone(),
        };
        assert_eq!(
            code(olga.get_entry(entry).await),
            Some(Code::NotFound),
            "{name}"
        );
        let task = apb::GetTaskRequest { id: bellas_task };
        assert_eq!(
            code(olga.get_task(task).await),
            Some(Code::NotFound),
            "{name}"
        );
        let done = apb::CompleteTaskRequest { id: olgas_task };
        assert!(
            olga.complete_task(done).await.is_ok(),
            "{name}: her own task"
        );
        let note = apb::AddNoteRequest {
            links: Some(apb::Links {
                contact_id: bellas.id.clone(),
                ..Default::default()
            }),
            text: "Mine now".into(),
        };
        assert_eq!(
            code(olga.add_note(note).await),
            Some(Code::NotFound),
            "{name}"
        );
        let for_bella = apb::CreateTaskRequest {
            title: "Bella, call them".into(),
            assignee_id: "bella".into(),
            due_at: "2030-01-01T10:00:00Z".into(),
            ..Default::default()
        };
        let refused = olga.create_task(for_bella).await;
        assert_eq!(code(refused), Some(Code::PermissionDenied), "{name}");

        // Whose open tasks each one lists: their own; a head, their team's.
        let mut bella = activities_of(&suites, "bella").await;
        let yours = |title: &str| apb::CreateTaskRequest {
            title: title.into(),
            due_at: "2030-01-02T10:00:00Z".into(),
            ..Default::default()
        };
        let second = bella
            .create_task(yours("bella's second"))
            .await
            .expect("a task");
        let second = second.into_inner().id;
        let mut oleg = activities_of(&suites, "oleg").await;
        oleg.create_task(yours("oleg's task"))
            .await
            .expect("a task");
        let pool = apb::CreateTaskRequest {
            assignee_id: String::new(),
            ..yours("nobody's yet")
        };
        let mut root_tasks = activities_of(&suites, "root").await;
        let pool = root_tasks
            .create_task(pool)
            .await
            .expect("a task")
            .into_inner();
        let unassign = apb::UpdateTaskRequest {
            id: pool.id.clone(),
            assignee_id: Some(String::new()),
            ..Default::default()
        };
        root_tasks
            .update_task(unassign)
            .await
            .expect("into the pool");
        let bellas_tasks = ["bella's task", "bella's second", "nobody's yet"];
        assert_eq!(
            tasks_listed(&suites, "olga").await,
            titles(&["nobody's yet"]),
            "{name}"
        );
        assert_eq!(
            tasks_listed(&suites, "bella").await,
            titles(&bellas_tasks),
            "{name}"
        );
        assert_eq!(
            tasks_listed(&suites, "boris").await,
            titles(&bellas_tasks),
            "{name}"
        );
        let norths = ["oleg's task", "nobody's yet"];
        assert_eq!(
            tasks_listed(&suites, "anna").await,
            titles(&norths),
            "{name}"
        );
        let all = titles(&[
            "bella's task",
            "bella's second",
            "oleg's task",
            "nobody's yet",
        ]);
        assert_eq!(tasks_listed(&suites, "root").await, all, "{name}");

        // What each lists, they open: Bella her note; Boris his agent's task, and closes it.
        let entry = apb::GetEntryRequest {
            id: bellas_note.clone(),
        };
        assert!(bella.get_entry(entry).await.is_ok(), "{name}: her own note");
        let mut boris = activities_of(&suites, "boris").await;
        let task = apb::GetTaskRequest { id: second.clone() };
        assert!(
            boris.get_task(task).await.is_ok(),
            "{name}: his team's task"
        );
        let close = apb::CompleteTaskRequest { id: second };
        assert!(boris.complete_task(close).await.is_ok(), "{name}");
        let teams = boris.timeline(timeline(&bellas)).await.expect("his team's");
        assert_eq!(teams.into_inner().entries.len(), 1, "{name}");
        for suite in suites {
            suite.stop().await;
        }
    }
}

/// A head of sales looks after their own team: adds, changes and deactivates its
/// agents and gives them password links — and nobody else's, and no more than an
/// agent's role; a refusal writes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_head_manages_the_agents_of_their_own_team_and_no_one_else() {
    use ringside_proto::staff::v1 as spb;
    for suites in support::both_ways().await {
        let name = deals_suite(&suites).name;
        staff_the_office(&suites).await;
        let staff = support::staff_suite(&suites);
        let mut anna = staff.staff_as("anna", Role::Manager).await;
        let person = |id: &str, role: &str, team: &str| spb::UserDetails {
            name: id.into(),
            role: role.into(),
            team_ids: vec![team.into()],
            ..Default::default()
        };
        let hire = |id: &str, details| spb::CreateUserRequest {
            id: id.into(),
            details: Some(details),
        };
        let olaf = anna
            .create_user(hire("olaf", person("olaf", "agent", "north")))
            .await;
        assert!(olaf.is_ok(), "{name}: an agent for her team: {olaf:?}");
        for (id, role, team) in [("max", "manager", "north"), ("sven", "agent", "south")] {
            let refused = anna.create_user(hire(id, person(id, role, team))).await;
            assert_eq!(code(refused), Some(Code::PermissionDenied), "{name}: {id}");
        }
        let change = |id: &str, details| spb::UpdateUserRequest {
            id: id.into(),
            details: Some(details),
        };
        let bella = anna
            .update_user(change("bella", person("bella", "agent", "north")))
            .await;
        assert_eq!(
            code(bella),
            Some(Code::PermissionDenied),
            "{name}: not her team's"
        );
        let admin = anna
            .update_user(change("oleg", person("oleg", "admin", "north")))
            .await;
        assert_eq!(
            code(admin),
            Some(Code::PermissionDenied),
            "{name}: no promotions"
        );
        let link = |id: &str| spb::CreatePasswordLinkRequest {
            user_id: id.into(),
            valid_for_hours: 0,
        };
        assert!(
            anna.create_password_link(link("olaf")).await.is_ok(),
            "{name}"
        );
        let theirs = anna.create_password_link(link("bella")).await;
        assert_eq!(code(theirs), Some(Code::PermissionDenied), "{name}");
        let leave = spb::SetUserActiveRequest {
            id: "oleg".into(),
            active: false,
        };
        assert!(
            anna.set_user_active(leave).await.is_ok(),
            "{name}: oleg leaves"
        );
        let team = spb::UpdateTeamRequest {
            id: "north".into(),
            name: "Mine".into(),
            head_ids: vec!["anna".into()],
        };
        assert_eq!(
            code(anna.update_team(team).await),
            Some(Code::PermissionDenied)
        );

        let mut root = staff.staff_as("root", Role::Admin).await;
        let all = spb::ListUsersRequest {
            include_inactive: true,
            page_size: 100,
            ..Default::default()
        };
        let users = root
            .list_users(all)
            .await
            .expect("users")
            .into_inner()
            .users;
        let ids: BTreeSet<String> = users.iter().map(|u| u.id.clone()).collect();
        assert!(
            !ids.contains("max") && !ids.contains("sven"),
            "{name}: {ids:?}"
        );
        let roles: Vec<(String, String)> = users
            .into_iter()
            .filter(|u| ["bella", "oleg"].contains(&u.id.as_str()))
            .map(|u| (u.id, u.details.unwrap_or_default().role))
            .collect();
        assert_eq!(
            roles,
            [
                ("bella".into(), "agent".into()),
                ("oleg".into(), "agent".into())
            ],
            "{name}: unchanged"
        );
        for suite in suites {
            suite.stop().await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deal_given_to_someone_else_is_theirs_in_the_managers_filters_at_once() {
    for suites in support::both_ways().await {
        let name = deals_suite(&suites).name;
        staff_the_office(&suites).await;
        let activities = activities_of(&suites, "anna").await;
        let owned_by = |owner: &'static str| {
            let mut activities = activities.clone();
            async move {
                let req = apb::ListSubjectsRequest {
                    kind: apb::SubjectKind::Deal as i32,
                    filter: apb::SubjectFilter::NoOpenTask as i32,
                    owner_id: owner.into(),
                    ..Default::default()
                };
                let found = activities.list_subjects(req).await.expect("subjects");
                let found = found.into_inner().subjects.into_iter();
                Some(found.map(|s| s.id).collect::<Vec<_>>()).filter(|ids| !ids.is_empty())
            }
        };
        // A new deal is its owner's at once (deal.created)...
        let deal = create(&suites, "olga", "handover", "").await;
        let olgas = support::eventually("Olga's deal in the filter", || owned_by("olga")).await;
        assert_eq!(olgas, std::slice::from_ref(&deal.id), "{name}");
        // ...and, given away with no stage moved, the new owner's (deal.updated).
        let mut anna = as_person(&suites, "anna").await;
        let give = dpb::UpdateDealRequest {
            id: deal.id.clone(),
            owner_id: Some("oleg".into()),
            ..Default::default()
        };
        anna.update_deal(give).await.expect("given to Oleg");
        let olegs = support::eventually("Oleg's deal in the filter", || owned_by("oleg")).await;
        assert_eq!(olegs, std::slice::from_ref(&deal.id), "{name}");
        assert_eq!(owned_by("olga").await, None, "{name}: no longer Olga's");
        for suite in suites {
            suite.stop().await;
        }
    }
}
