//! The `ringside.staff.v1.Staff` gRPC service: requests are checked and turned into
//! domain calls here, results into messages, errors into status codes. Who may call
//! what is the guard's (the permission table), before a request gets here.

use std::time::Duration;

use ringside_auth::{Caller, Role, TokenKey};
use ringside_identity::Invalid;
use ringside_kit::grpc::{Reply, invalid, next_token, ok, optional_id, page, required_id};
use ringside_proto::staff::v1 as pb;
use ringside_proto::staff::v1::staff_server::{Staff, StaffServer};
use ringside_proto::timestamp_from_millis;
use tonic::{Request, Status};

use crate::model::{ROLES, Team, User, UserSpec};
use crate::service::StaffService;
use crate::signin::SignedIn;
use crate::store::{ApiToken, AuditEntry, Lookup, UserFilter};
use crate::totp::Enrolment;

/// Default and largest page sizes.
const DEFAULT_PAGE: i64 = 100;
const MAX_PAGE: i64 = 500;

/// How long an access token minted from a session lives.
const ACCESS_TOKEN_TTL: Duration = Duration::from_secs(300);
/// Longest a password link may hold, in hours.
const MAX_LINK_HOURS: i64 = 7 * 24;
/// Most audit lines in one page.
const MAX_AUDIT_PAGE: i64 = 500;
/// Most audit lines another service writes at once.
const MAX_AUDIT_BATCH: usize = 500;
/// What other services may write to the trail: what happens there.
const RECORDED_ELSEWHERE: &[&str] = &["call_refused", "card_shown"];
/// The longest field of a line another service writes (longer ones are cut).
const LONGEST_FIELD: usize = 2048;

pub struct StaffGrpc {
    service: StaffService,
    /// Mints people's access tokens from sessions (people's private keys).
    key: TokenKey,
}

impl StaffGrpc {
    pub fn new(service: StaffService, key: TokenKey) -> Self {
        StaffGrpc { service, key }
    }

    /// Who acts on the user `id`: the caller, when they may — a manager only on the
    /// agents of their own teams.
    async fn acting_on<T>(&self, req: &Request<T>, id: &str) -> Result<String, Status> {
        let caller = Caller::of(req);
        if caller.role == Some(Role::Manager) {
            let id = required_id("id", id)?;
            self.service.manager_may_change(&caller.actor, &id).await?;
        }
        Ok(caller.actor)
    }

    /// `user` with a new access token of minutes.
    fn opened(&self, user: User) -> Reply<pb::OpenSessionResponse> {
        let access_token = self.access_token(&user)?;
        let expires = ringside_storage::now_millis() + ACCESS_TOKEN_TTL.as_millis() as i64;
        ok(pb::OpenSessionResponse {
            user: Some(user_to_proto(user)),
            access_token,
            access_token_expires_at: Some(timestamp_from_millis(expires)),
        })
    }

    fn access_token(&self, user: &User) -> Result<String, Status> {
        let role: Role = user
            .role
            .parse()
            .map_err(|_| Status::internal("internal error"))?;
        // The user's teams ride along: what a manager's scope covers, for minutes.
        self.key
            .issue_member(&user.id, role, &user.team_ids, ACCESS_TOKEN_TTL)
            .map_err(|e| {
                tracing::error!(error = %e, "staff cannot mint people's tokens: give it the people's private keys");
                Status::failed_precondition("this staff service cannot sign people in")
            })
    }

    /// A sign-in's answer: its session, or the step asking for a code.
    fn signed_in(&self, signed: SignedIn) -> pb::SignInResponse {
        match signed {
            SignedIn::Session {
                secret,
                user,
                recovery_codes,
            } => {
                let expires_at = ringside_storage::now_millis() + self.service.signin.absolute_ms();
                pb::SignInResponse {
                    session_secret: secret,
                    user: Some(user_to_proto(*user)),
                    expires_at: Some(timestamp_from_millis(expires_at)),
                    second_step: None,
                    recovery_codes,
                }
            }
            SignedIn::SecondStep {
                challenge,
                expires_at,
                enrol,
            } => pb::SignInResponse {
                second_step: Some(pb::SecondStep {
                    challenge,
                    expires_at: Some(timestamp_from_millis(expires_at)),
                    enrol: enrol.map(two_factor_secret),
                }),
                ..pb::SignInResponse::default()
            },
        }
    }

    pub fn into_server(self) -> StaffServer<Self> {
        StaffServer::new(self)
    }
}

fn two_factor_secret(e: Enrolment) -> pb::TwoFactorSecret {
    pb::TwoFactorSecret {
        secret: e.secret,
        url: e.url,
    }
}

fn user_to_proto(u: User) -> pb::User {
    pb::User {
        id: u.id,
        details: Some(pb::UserDetails {
            name: u.name,
            login: u.login.unwrap_or_default(),
            role: u.role,
            team_ids: u.team_ids,
            extensions: u.extensions,
            alert_email: u.alert_email,
            telegram_chat_id: u.telegram_chat_id,
            locale: u.locale,
            time_zone: u.time_zone,
        }),
        active: u.active,
        two_factor: u.two_factor,
        created_at: Some(timestamp_from_millis(u.created_at)),
        updated_at: Some(timestamp_from_millis(u.updated_at)),
    }
}

fn spec_of(details: Option<pb::UserDetails>) -> UserSpec {
    let d = details.unwrap_or_default();
    UserSpec {
        name: d.name,
        login: d.login,
        role: d.role,
        team_ids: d.team_ids,
        extensions: d.extensions,
        alert_email: d.alert_email,
        telegram_chat_id: d.telegram_chat_id,
        locale: d.locale,
        time_zone: d.time_zone,
    }
}

fn team_to_proto(t: Team) -> pb::Team {
    pb::Team {
        id: t.id,
        name: t.name,
        head_ids: t.head_ids,
        member_ids: t.member_ids,
    }
}

fn filter_from(r: &pb::ListUsersRequest) -> Result<UserFilter, Status> {
    if let Some(unknown) = r.roles.iter().find(|role| !ROLES.contains(&role.as_str())) {
        return Err(Status::invalid_argument(format!(
            "invalid roles: {unknown:?} is not admin, manager or agent"
        )));
    }
    let mut roles = r.roles.clone();
    roles.sort();
    roles.dedup();
    Ok(UserFilter {
        team_id: optional_id("team_id", &r.team_id)?,
        roles,
        include_inactive: r.include_inactive,
    })
}

fn lookup_from(r: pb::FindUserRequest) -> Result<Lookup, Status> {
    use pb::find_user_request::By;
    let lookup = match r.by {
        Some(By::Extension(e)) => Lookup::Extension(e.trim().to_owned()),
        Some(By::TelegramChatId(c)) => Lookup::TelegramChat(c.trim().to_owned()),
        Some(By::Login(l)) => Lookup::Login(l.trim().to_lowercase()),
        None => return Err(Status::invalid_argument("invalid by: must not be empty")),
    };
    Ok(lookup)
}

#[tonic::async_trait]
impl Staff for StaffGrpc {
    async fn create_user(&self, req: Request<pb::CreateUserRequest>) -> Reply<pb::User> {
        let caller = Caller::of(&req);
        let actor = caller.actor;
        let r = req.into_inner();
        let id = optional_id("id", &r.id)?;
        if caller.role == Some(Role::Manager) {
            let spec = spec_of(r.details.clone());
            let after = spec
                .validated(id.clone().unwrap_or_default())
                .map_err(invalid)?;
            self.service.manager_may(&actor, None, Some(&after)).await?;
        }
        let user = self
            .service
            .create_user(&actor, id, spec_of(r.details))
            .await?;
        ok(user_to_proto(user))
    }

    async fn get_user(&self, req: Request<pb::GetUserRequest>) -> Reply<pb::User> {
        let id = required_id("id", &req.get_ref().id)?;
        ok(user_to_proto(self.service.get_user(&id).await?))
    }

    async fn update_my_preferences(
        &self,
        req: Request<pb::UpdateMyPreferencesRequest>,
    ) -> Reply<pb::User> {
        let me = Caller::of(&req).actor;
        let r = req.into_inner();
        let (locale, zone) = (r.locale.as_deref(), r.time_zone.as_deref());
        let user = self.service.set_preferences(&me, locale, zone).await?;
        ok(user_to_proto(user))
    }

    async fn update_user(&self, req: Request<pb::UpdateUserRequest>) -> Reply<pb::User> {
        let caller = Caller::of(&req);
        let actor = caller.actor;
        let r = req.into_inner();
        let id = required_id("id", &r.id)?;
        if caller.role == Some(Role::Manager) {
            let before = self.service.get_user(&id).await?;
            let after = spec_of(r.details.clone())
                .validated(id.clone())
                .map_err(invalid)?;
            let service = &self.service;
            service
                .manager_may(&actor, Some(&before), Some(&after))
                .await?;
        }
        let user = self
            .service
            .update_user(&actor, &id, spec_of(r.details))
            .await?;
        ok(user_to_proto(user))
    }

    async fn set_user_active(&self, req: Request<pb::SetUserActiveRequest>) -> Reply<pb::User> {
        let actor = self.acting_on(&req, &req.get_ref().id).await?;
        let r = req.into_inner();
        let id = required_id("id", &r.id)?;
        ok(user_to_proto(
            self.service.set_active(&actor, &id, r.active).await?,
        ))
    }

    async fn list_users(&self, req: Request<pb::ListUsersRequest>) -> Reply<pb::ListUsersResponse> {
        let r = req.into_inner();
        let filter = filter_from(&r)?;
        let page = page(r.page_size, &r.page_token, DEFAULT_PAGE, MAX_PAGE)?;
        let listed = self.service.list_users(&filter, page).await?;
        ok(pb::ListUsersResponse {
            users: listed.items.into_iter().map(user_to_proto).collect(),
            next_page_token: next_token(listed.next),
        })
    }

    async fn names_of(&self, req: Request<pb::NamesOfRequest>) -> Reply<pb::NamesOfResponse> {
        let ids = req.into_inner().ids;
        if ids.len() > crate::service::MAX_NAMES {
            let why = format!("at most {} ids", crate::service::MAX_NAMES);
            return Err(invalid(ringside_identity::Invalid::new("ids", why)));
        }
        let names = self.service.names_of(&ids).await?;
        ok(pb::NamesOfResponse {
            names: names.into_iter().collect(),
        })
    }

    async fn find_user(&self, req: Request<pb::FindUserRequest>) -> Reply<pb::User> {
        let lookup = lookup_from(req.into_inner())?;
        ok(user_to_proto(self.service.find_user(lookup).await?))
    }

    async fn create_team(&self, req: Request<pb::CreateTeamRequest>) -> Reply<pb::Team> {
        let r = req.into_inner();
        let id = optional_id("id", &r.id)?;
        ok(team_to_proto(self.service.create_team(id, &r.name).await?))
    }

    async fn update_team(&self, req: Request<pb::UpdateTeamRequest>) -> Reply<pb::Team> {
        let r = req.into_inner();
        let id = required_id("id", &r.id)?;
        let team = self.service.update_team(&id, &r.name, &r.head_ids).await?;
        ok(team_to_proto(team))
    }

    async fn list_teams(&self, _: Request<pb::ListTeamsRequest>) -> Reply<pb::ListTeamsResponse> {
        let teams = self.service.list_teams().await?;
        ok(pb::ListTeamsResponse {
            teams: teams.into_iter().map(team_to_proto).collect(),
        })
    }

    async fn sign_in(&self, req: Request<pb::SignInRequest>) -> Reply<pb::SignInResponse> {
        let r = req.into_inner();
        let signin = &self.service.signin;
        let signed = signin
            .sign_in(&r.login, &r.password, &r.client_address)
            .await?;
        ok(self.signed_in(signed))
    }

    async fn sign_in_with_code(
        &self,
        req: Request<pb::SignInWithCodeRequest>,
    ) -> Reply<pb::SignInResponse> {
        let r = req.into_inner();
        let signin = &self.service.signin;
        let signed = signin
            .sign_in_with_code(&r.challenge, &r.code, &r.client_address)
            .await?;
        ok(self.signed_in(signed))
    }

    async fn start_provider_sign_in(
        &self,
        req: Request<pb::StartProviderSignInRequest>,
    ) -> Reply<pb::StartProviderSignInResponse> {
        let address = &req.get_ref().client_address;
        let (authorize_url, state) = self.service.start_provider_sign_in(address).await?;
        ok(pb::StartProviderSignInResponse {
            authorize_url,
            state,
        })
    }

    async fn finish_provider_sign_in(
        &self,
        req: Request<pb::FinishProviderSignInRequest>,
    ) -> Reply<pb::SignInResponse> {
        let r = req.into_inner();
        let back = crate::sso::Callback {
            state: &r.state,
            code: &r.code,
            error: &r.error,
            address: &r.client_address,
        };
        let signed = self.service.finish_provider_sign_in(back).await?;
        ok(self.signed_in(signed))
    }

    async fn start_two_factor(
        &self,
        req: Request<pb::StartTwoFactorRequest>,
    ) -> Reply<pb::StartTwoFactorResponse> {
        let me = Caller::of(&req).actor;
        let password = &req.get_ref().password;
        let enrolment = self.service.signin.start_totp(&me, password).await?;
        ok(pb::StartTwoFactorResponse {
            secret: Some(two_factor_secret(enrolment)),
        })
    }

    async fn confirm_two_factor(
        &self,
        req: Request<pb::ConfirmTwoFactorRequest>,
    ) -> Reply<pb::ConfirmTwoFactorResponse> {
        let me = Caller::of(&req).actor;
        let code = &req.get_ref().code;
        let recovery_codes = self.service.signin.confirm_totp(&me, code).await?;
        ok(pb::ConfirmTwoFactorResponse { recovery_codes })
    }

    async fn disable_two_factor(
        &self,
        req: Request<pb::DisableTwoFactorRequest>,
    ) -> Reply<pb::DisableTwoFactorResponse> {
        let me = Caller::of(&req).actor;
        let code = &req.get_ref().code;
        self.service.signin.disable_totp(&me, code).await?;
        ok(pb::DisableTwoFactorResponse {})
    }

    async fn reset_two_factor(
        &self,
        req: Request<pb::ResetTwoFactorRequest>,
    ) -> Reply<pb::DisableTwoFactorResponse> {
        let actor = self.acting_on(&req, &req.get_ref().user_id).await?;
        let user = required_id("user_id", &req.get_ref().user_id)?;
        self.service.signin.reset_totp(&actor, &user).await?;
        ok(pb::DisableTwoFactorResponse {})
    }

    async fn open_session(
        &self,
        req: Request<pb::OpenSessionRequest>,
    ) -> Reply<pb::OpenSessionResponse> {
        let user = self
            .service
            .signin
            .open(&req.get_ref().session_secret)
            .await?;
        self.opened(user)
    }

    async fn sign_out(&self, req: Request<pb::SignOutRequest>) -> Reply<pb::SignOutResponse> {
        let signin = &self.service.signin;
        ended(signin.sign_out(&req.get_ref().session_secret).await?)
    }

    async fn sign_out_everywhere(
        &self,
        req: Request<pb::SignOutEverywhereRequest>,
    ) -> Reply<pb::SignOutResponse> {
        let me = Caller::of(&req).actor;
        ended(self.service.signin.sign_out_everywhere(&me, &me).await?)
    }

    async fn end_sessions(
        &self,
        req: Request<pb::EndSessionsRequest>,
    ) -> Reply<pb::SignOutResponse> {
        let actor = self.acting_on(&req, &req.get_ref().user_id).await?;
        let user = required_id("user_id", &req.get_ref().user_id)?;
        ended(
            self.service
                .signin
                .sign_out_everywhere(&actor, &user)
                .await?,
        )
    }

    async fn set_password(
        &self,
        req: Request<pb::SetPasswordRequest>,
    ) -> Reply<pb::SetPasswordResponse> {
        let actor = self.acting_on(&req, &req.get_ref().user_id).await?;
        let r = req.into_inner();
        let user = required_id("user_id", &r.user_id)?;
        self.service
            .signin
            .set_password(&actor, &user, &r.password)
            .await?;
        ok(pb::SetPasswordResponse {})
    }

    async fn change_password(
        &self,
        req: Request<pb::ChangePasswordRequest>,
    ) -> Reply<pb::SetPasswordResponse> {
        let me = Caller::of(&req).actor;
        let r = req.into_inner();
        let signin = &self.service.signin;
        signin
            .change_password(&me, &r.current_password, &r.new_password)
            .await?;
        ok(pb::SetPasswordResponse {})
    }

    async fn create_password_link(
        &self,
        req: Request<pb::CreatePasswordLinkRequest>,
    ) -> Reply<pb::CreatePasswordLinkResponse> {
        let actor = self.acting_on(&req, &req.get_ref().user_id).await?;
        let r = req.into_inner();
        let user = required_id("user_id", &r.user_id)?;
        let hours = match r.valid_for_hours {
            0 => 24,
            h @ 1..=MAX_LINK_HOURS => h,
            _ => {
                let reason = format!("1 to {MAX_LINK_HOURS}");
                return Err(invalid(Invalid::new("valid_for_hours", reason)));
            }
        };
        let valid_for = Duration::from_secs(hours as u64 * 3600);
        let signin = &self.service.signin;
        let (secret, expires_at) = signin
            .create_password_link(&actor, &user, valid_for)
            .await?;
        ok(pb::CreatePasswordLinkResponse {
            secret,
            expires_at: Some(timestamp_from_millis(expires_at)),
        })
    }

    async fn set_password_with_link(
        &self,
        req: Request<pb::SetPasswordWithLinkRequest>,
    ) -> Reply<pb::SetPasswordWithLinkResponse> {
        let r = req.into_inner();
        let signin = &self.service.signin;
        let user = signin.use_password_link(&r.secret, &r.password).await?;
        ok(pb::SetPasswordWithLinkResponse {
            user: Some(user_to_proto(user)),
        })
    }

    async fn record_audit(
        &self,
        req: Request<pb::RecordAuditRequest>,
    ) -> Reply<pb::RecordAuditResponse> {
        let source = Caller::of(&req).actor;
        let entries = req.into_inner().entries;
        if entries.len() > MAX_AUDIT_BATCH {
            return Err(invalid(Invalid::new("entries", "at most 500 at once")));
        }
        let lines = entries
            .into_iter()
            .map(|e| audit_from_proto(e, &source))
            .collect::<Result<Vec<_>, Invalid>>()
            .map_err(invalid)?;
        self.service.record_audit(&lines).await?;
        ok(pb::RecordAuditResponse {})
    }

    async fn list_audit(&self, req: Request<pb::ListAuditRequest>) -> Reply<pb::ListAuditResponse> {
        let r = req.into_inner();
        let size = ringside_identity::page_size(r.page_size, 100, MAX_AUDIT_PAGE)
            .map_err(ringside_kit::grpc::invalid)?;
        let before = match r.page_token.trim() {
            "" => 0,
            t => t
                .parse::<i64>()
                .map_err(|_| Status::invalid_argument("invalid page_token: not a page token"))?,
        };
        let lines = self
            .service
            .audit_trail(r.subject.trim(), before, size + 1)
            .await?;
        let more = lines.len() as i64 > size;
        let entries: Vec<pb::AuditEntry> = lines
            .into_iter()
            .take(size as usize)
            .map(audit_to_proto)
            .collect();
        let next_page_token = match (more, entries.last()) {
            (true, Some(last)) => last.id.to_string(),
            _ => String::new(),
        };
        ok(pb::ListAuditResponse {
            entries,
            next_page_token,
        })
    }

    async fn create_api_token(
        &self,
        req: Request<pb::CreateApiTokenRequest>,
    ) -> Reply<pb::CreateApiTokenResponse> {
        let me = Caller::of(&req).actor;
        let r = req.into_inner();
        let days = u64::try_from(r.ttl_days).unwrap_or(0);
        let life = Duration::from_secs(days.saturating_mul(86_400));
        let tokens = &self.service.api_tokens;
        let (token, kept) = tokens.create(&me, &r.name, life, &r.role).await?;
        ok(pb::CreateApiTokenResponse {
            token,
            api_token: Some(api_token_to_proto(kept)),
        })
    }

    async fn list_api_tokens(
        &self,
        req: Request<pb::ListApiTokensRequest>,
    ) -> Reply<pb::ListApiTokensResponse> {
        let me = Caller::of(&req).actor;
        let tokens = self.service.api_tokens.list(&me).await?;
        ok(pb::ListApiTokensResponse {
            api_tokens: tokens.into_iter().map(api_token_to_proto).collect(),
        })
    }

    async fn revoke_api_token(
        &self,
        req: Request<pb::RevokeApiTokenRequest>,
    ) -> Reply<pb::RevokeApiTokenResponse> {
        let me = Caller::of(&req).actor;
        let id = required_id("id", &req.get_ref().id)?;
        self.service.api_tokens.revoke(&me, &id).await?;
        ok(pb::RevokeApiTokenResponse {})
    }

    async fn exchange_api_token(
        &self,
        req: Request<pb::ExchangeApiTokenRequest>,
    ) -> Reply<pb::OpenSessionResponse> {
        let user = self
            .service
            .api_tokens
            .exchange(&req.get_ref().api_token)
            .await?;
        self.opened(user)
    }
}

/// How many sessions a sign-out ended.
fn ended(sessions: u64) -> Reply<pb::SignOutResponse> {
    ok(pb::SignOutResponse {
        sessions_ended: i64::try_from(sessions).unwrap_or(i64::MAX),
    })
}

fn api_token_to_proto(t: ApiToken) -> pb::ApiToken {
    pb::ApiToken {
        id: t.id,
        name: t.name,
        created_at: Some(timestamp_from_millis(t.created_at)),
        expires_at: Some(timestamp_from_millis(t.expires_at)),
        last_used_at: t.last_used_at.map(timestamp_from_millis),
        revoked_at: t.revoked_at.map(timestamp_from_millis),
        role: t.role,
    }
}

/// A line another service wrote, checked: only what happens elsewhere (a refused
/// call, a card shown), never later than now, fields cut to length, its detail
/// naming `source`.
fn audit_from_proto(e: pb::AuditEntry, source: &str) -> Result<AuditEntry, Invalid> {
    if !RECORDED_ELSEWHERE.contains(&e.action.as_str()) {
        let why = format!("only {} are written here", RECORDED_ELSEWHERE.join(", "));
        return Err(Invalid::new("action", why));
    }
    let now = ringside_storage::now_millis();
    let at =
        e.at.as_ref()
            .map_or(now, ringside_proto::millis_from_timestamp);
    Ok(AuditEntry {
        id: 0,
        at: if at > 0 { at.min(now) } else { now },
        actor: field(&e.actor),
        action: e.action,
        subject: field(&e.subject),
        outcome: field(&e.outcome),
        detail: field(&format!("[{source}] {}", e.detail)),
    })
}

/// `text` as the trail keeps another service's field: without NUL (PostgreSQL text
/// holds none), at most [`LONGEST_FIELD`] bytes.
fn field(text: &str) -> String {
    let mut kept = String::with_capacity(text.len().min(LONGEST_FIELD));
    for c in text.chars().filter(|c| *c != '\0') {
        if kept.len() + c.len_utf8() > LONGEST_FIELD {
            break;
        }
        kept.push(c);
    }
    kept
}

fn audit_to_proto(e: AuditEntry) -> pb::AuditEntry {
    pb::AuditEntry {
        id: e.id,
        at: Some(timestamp_from_millis(e.at)),
        actor: e.actor,
        action: e.action,
        subject: e.subject,
        outcome: e.outcome,
        detail: e.detail,
    }
}
