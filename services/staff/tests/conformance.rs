//! The staff service's conformance suite: every scenario runs on SQLite and, when
//! `RINGSIDE_TEST_DATABASE_URL` is set, on PostgreSQL — the same code, the same answers.

use ringside_identity::paging::Page;
use ringside_staff::error::StaffError;
use ringside_staff::model::UserSpec;
use ringside_staff::store::{Lookup, UserFilter};
use ringside_staff::{StaffService, model::User};
use ringside_storage::testing::all_backends;

fn spec(name: &str, login: &str, extensions: &[&str]) -> UserSpec {
    UserSpec {
        name: name.into(),
        login: login.into(),
        extensions: extensions.iter().map(|e| (*e).to_owned()).collect(),
        ..Default::default()
    }
}

fn page(size: i64) -> Page {
    Page { size, after: None }
}

async fn all(svc: &StaffService, filter: &UserFilter) -> Vec<String> {
    let mut ids = Vec::new();
    let mut page = page(2);
    loop {
        let listed = svc.list_users(filter, page.clone()).await.expect("list");
        ids.extend(listed.items.into_iter().map(|u| u.id));
        match listed.next {
            Some(next) => page.after = Some(next),
            None => return ids,
        }
    }
}

#[tokio::test]
async fn a_user_is_created_found_changed_and_deactivated() {
    for t in all_backends().await {
        let svc = StaffService::new(t.db.clone());
        let sales = svc
            .create_team(Some("sales".into()), "Sales")
            .await
            .expect("team");
        let mut olga = spec("Ольга", "Olga@Office.Example", &["101", "102"]);
        olga.team_ids = vec![sales.id.clone()];
        olga.telegram_chat_id = "5551".into();
        let created = svc
            .create_user("admin", Some("olga".into()), olga)
            .await
            .expect("user");
        assert_eq!(created.login.as_deref(), Some("olga@office.example"));
        assert_eq!(
            svc.get_user("olga").await.expect("get"),
            created,
            "{:?}",
            t.backend()
        );

        let by = |l| svc.find_user(l);
        let found: User = by(Lookup::Extension("102".into()))
            .await
            .expect("by extension");
        assert_eq!(found.id, "olga");
        assert_eq!(
            by(Lookup::TelegramChat("5551".into())).await.unwrap().id,
            "olga"
        );
        assert_eq!(
            by(Lookup::Login("olga@office.example".into()))
                .await
                .unwrap()
                .id,
            "olga"
        );

        // 102 moves elsewhere: the update replaces her extensions.
        let mut changed = spec("Ольга Петрова", "olga@office.example", &["101"]);
        changed.role = "manager".into();
        let updated = svc
            .update_user("admin", "olga", changed)
            .await
            .expect("update");
        assert_eq!(
            (updated.role.as_str(), updated.team_ids.len()),
            ("manager", 0)
        );
        assert!(matches!(
            by(Lookup::Extension("102".into())).await,
            Err(StaffError::NotFound { .. })
        ));

        // Deactivated: found by nothing, listed only when asked, record kept.
        svc.set_active("admin", "olga", false)
            .await
            .expect("deactivate");
        assert!(by(Lookup::Extension("101".into())).await.is_err());
        assert!(
            by(Lookup::Login("olga@office.example".into()))
                .await
                .is_err()
        );
        assert!(all(&svc, &UserFilter::default()).await.is_empty());
        let everyone = UserFilter {
            include_inactive: true,
            ..Default::default()
        };
        assert_eq!(all(&svc, &everyone).await, vec!["olga"]);
        assert!(!svc.get_user("olga").await.unwrap().active);
        // Records still name her: her name is still given, unknown ids are left out.
        let ids = ["olga", "nobody", "", "olga"].map(String::from);
        let names = svc.names_of(&ids).await.expect("names");
        assert_eq!(
            names,
            [("olga".to_owned(), "Ольга Петрова".to_owned())],
            "{:?}",
            t.backend()
        );
        // A deactivated user's extension can be given to someone else.
        let ivan = spec("Ivan", "", &["101"]);
        svc.create_user("admin", Some("ivan".into()), ivan)
            .await
            .expect("ivan takes 101");
        assert_eq!(
            by(Lookup::Extension("101".into())).await.unwrap().id,
            "ivan"
        );
        let back = svc
            .set_active("admin", "olga", true)
            .await
            .expect("reactivate");
        assert!(back.active);
        assert!(
            back.extensions.is_empty(),
            "101 went to Ivan: {:?}",
            back.extensions
        );
    }
}

#[tokio::test]
async fn a_login_and_an_extension_belong_to_one_user_and_teams_must_exist() {
    for t in all_backends().await {
        let svc = StaffService::new(t.db.clone());
        svc.create_user(
            "admin",
            Some("olga".into()),
            spec("Olga", "olga@office.example", &["101"]),
        )
        .await
        .expect("olga");
        for (why, ivan) in [
            ("login", spec("Ivan", "OLGA@office.example", &[])),
            ("extension", spec("Ivan", "ivan@office.example", &["101"])),
        ] {
            let refused = svc.create_user("admin", Some("ivan".into()), ivan).await;
            assert!(
                matches!(refused, Err(StaffError::Taken(_))),
                "{why}: {refused:?}"
            );
        }
        let mut lost = spec("Ivan", "ivan@office.example", &[]);
        lost.team_ids = vec!["nowhere".into()];
        let refused = svc.create_user("admin", Some("ivan".into()), lost).await;
        assert!(matches!(refused, Err(StaffError::Invalid(e)) if e.field == "team_ids"));
        let again = svc
            .create_user("admin", Some("olga".into()), spec("Olga 2", "", &[]))
            .await;
        assert!(matches!(again, Err(StaffError::Taken(_))));
        // Nothing refused was written.
        let everyone = UserFilter {
            include_inactive: true,
            ..Default::default()
        };
        assert_eq!(
            all(&svc, &everyone).await,
            vec!["olga"],
            "{:?}",
            t.backend()
        );
    }
}

#[tokio::test]
async fn teams_have_heads_among_their_members_and_lists_follow_filters_and_pages() {
    for t in all_backends().await {
        let svc = StaffService::new(t.db.clone());
        let a = svc
            .create_team(Some("a".into()), "Team A")
            .await
            .expect("a");
        let b = svc
            .create_team(Some("b".into()), "Team B")
            .await
            .expect("b");
        assert!(matches!(
            svc.create_team(None, "Team A").await,
            Err(StaffError::Taken(_))
        ));
        for (id, role, team) in [
            ("u1", "manager", &a),
            ("u2", "agent", &a),
            ("u3", "agent", &a),
            ("u4", "agent", &b),
            ("u5", "admin", &b),
        ] {
            let mut s = spec(id, "", &[]);
            s.role = role.into();
            s.team_ids = vec![team.id.clone()];
            svc.create_user("admin", Some(id.into()), s)
                .await
                .expect("user");
        }
        let refused = svc.update_team("a", "Team A", &["u4".into()]).await;
        assert!(matches!(refused, Err(StaffError::Invalid(e)) if e.field == "head_ids"));
        let led = svc
            .update_team("a", "Sales A", &["u1".into()])
            .await
            .expect("heads");
        assert_eq!(led.head_ids, vec!["u1"]);
        assert_eq!(led.member_ids, vec!["u1", "u2", "u3"]);

        let in_a = UserFilter {
            team_id: Some("a".into()),
            ..Default::default()
        };
        assert_eq!(
            all(&svc, &in_a).await,
            vec!["u1", "u2", "u3"],
            "{:?}",
            t.backend()
        );
        let agents = UserFilter {
            roles: vec!["agent".into()],
            ..Default::default()
        };
        assert_eq!(all(&svc, &agents).await, vec!["u2", "u3", "u4"]);
        assert_eq!(all(&svc, &UserFilter::default()).await.len(), 5);

        // Leaving a team drops its headship there; the others stay.
        let mut moved = spec("u1", "", &[]);
        moved.role = "manager".into();
        moved.team_ids = vec!["b".into()];
        svc.update_user("admin", "u1", moved).await.expect("move");
        let teams = svc.list_teams().await.expect("teams");
        let names: Vec<&str> = teams.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, vec!["Sales A", "Team B"]);
        assert!(teams[0].head_ids.is_empty());
        assert_eq!(teams[1].member_ids, vec!["u1", "u4", "u5"]);
    }
}

#[tokio::test]
async fn the_agents_directory_of_notifications_moves_into_staff() {
    for t in ringside_storage::testing::all_backends_at(10).await {
        // A user made in staff before the move, holding a login an agent also has.
        sqlx::query(
            "INSERT INTO users (id, name, login, role, created_at, updated_at) \
             VALUES ('early', 'Early', 'taken@office.example', 'agent', 1, 1)",
        )
        .execute(t.db.pool())
        .await
        .expect("an early user");
        let agents = [
            (
                "olga",
                "Ольга",
                "agent",
                "sales",
                "olga@office.example",
                "5551",
            ),
            ("ivan", "Иван", "agent", "", "shared@office.example", ""),
            (
                "lena",
                "Елена",
                "manager",
                "sales",
                "shared@office.example",
                "",
            ),
            (
                "mallory",
                "Mallory",
                "admin",
                "Sales Moscow",
                "taken@office.example",
                "",
            ),
        ];
        for (id, name, role, team, email, chat) in agents {
            sqlx::query(
                "INSERT INTO agents (id, name, role, team, email, telegram_chat_id, created_at, \
                 updated_at) VALUES ($1, $2, $3, $4, $5, $6, 1, 2)",
            )
            .bind(id)
            .bind(name)
            .bind(role)
            .bind(team)
            .bind(email)
            .bind(chat)
            .execute(t.db.pool())
            .await
            .expect("an agent of the old directory");
        }
        for (ext, id) in [("101", "olga"), ("102", "olga"), ("103", "ivan")] {
            sqlx::query("INSERT INTO agent_extensions (extension, agent_id) VALUES ($1, $2)")
                .bind(ext)
                .bind(id)
                .execute(t.db.pool())
                .await
                .expect("an extension");
        }
        t.db.migrate().await.expect("the later migrations");

        let svc = StaffService::new(t.db.clone());
        let olga = svc.get_user("olga").await.expect("olga moved");
        let got = (
            olga.name.as_str(),
            olga.role.as_str(),
            olga.login.as_deref(),
            olga.alert_email.as_str(),
            olga.telegram_chat_id.as_str(),
            olga.active,
        );
        let want = (
            "Ольга",
            "agent",
            Some("olga@office.example"),
            "olga@office.example",
            "5551",
            true,
        );
        assert_eq!(got, want, "{:?}", t.backend());
        assert_eq!(olga.extensions, vec!["101", "102"]);
        assert_eq!(olga.team_ids, vec!["sales"]);
        // A shared email stays an alert address but is nobody's login.
        let ivan = svc.get_user("ivan").await.expect("ivan moved");
        assert_eq!(
            (ivan.login, ivan.alert_email.as_str()),
            (None, "shared@office.example")
        );
        assert_eq!(
            svc.find_user(Lookup::Extension("103".into()))
                .await
                .unwrap()
                .id,
            "ivan"
        );
        // A role any agent could once write: admin is not carried over; a login
        // someone already has is left out, the person is not.
        let mallory = svc.get_user("mallory").await.expect("mallory moved");
        assert_eq!((mallory.role.as_str(), mallory.login), ("agent", None));
        assert_eq!(svc.get_user("lena").await.unwrap().role, "manager");
        // A team name that is no id gets a new id and keeps its name.
        let mut teams = svc.list_teams().await.expect("teams");
        teams.sort_by(|a, b| a.name.cmp(&b.name)); // the backends collate names apart
        let named: Vec<(&str, Vec<String>)> = teams
            .iter()
            .map(|t| (t.name.as_str(), t.member_ids.clone()))
            .collect();
        assert_eq!(
            named,
            vec![
                ("Sales Moscow", vec!["mallory".to_owned()]),
                ("sales", vec!["lena".to_owned(), "olga".to_owned()]),
            ]
        );
        let moscow = &teams[0];
        assert!(
            !moscow.id.contains(' ') && moscow.id.len() <= 64,
            "{}",
            moscow.id
        );
        assert_eq!(mallory.team_ids, vec![moscow.id.clone()]);
        // The old directory is gone once carried over (0019).
        let old = sqlx::query("SELECT COUNT(*) FROM agents")
            .fetch_one(t.db.pool())
            .await;
        assert!(
            old.is_err(),
            "{:?}: the agents table is still there",
            t.backend()
        );
    }
}
