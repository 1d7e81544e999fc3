//! Single sign-on through an OpenID Connect provider, the protocol's side: the
//! provider's metadata and keys (discovered from its issuer, kept five minutes), the
//! authorization code flow with PKCE (S256) and a nonce, and the ID token checked —
//! signature by the provider's keys, issuer, audience, expiry and nonce — before
//! anything in it is believed. Each flow's state is a 256-bit secret kept hashed for
//! ten minutes with its PKCE verifier and nonce, and used up when the browser comes
//! back, whatever happens next. Who the person then is in Ringside is `sso`'s.

use std::sync::Arc;
use std::time::{Duration, Instant};

use openidconnect::core::{
    CoreAuthDisplay, CoreAuthPrompt, CoreAuthenticationFlow, CoreErrorResponseType,
    CoreGenderClaim, CoreJsonWebKey, CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm,
    CoreProviderMetadata, CoreRevocableToken, CoreRevocationErrorResponse,
    CoreTokenIntrospectionResponse, CoreTokenType,
};
use openidconnect::{
    AdditionalClaims, AuthorizationCode, ClaimsVerificationError, Client, ClientId, ClientSecret,
    CsrfToken, EmptyExtraTokenFields, EndpointMaybeSet, EndpointNotSet, EndpointSet, IdTokenFields,
    IssuerUrl, Nonce, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RequestTokenError, Scope,
    StandardErrorResponse, StandardTokenResponse, TokenResponse,
};
use ringside_identity::Invalid;
use ringside_storage::{Db, now_millis};
use serde::{Deserialize, Serialize};
use sqlx::AnyConnection;
use tokio::sync::Mutex;

use crate::error::{Result, StaffError};
use crate::signin::secret_hash;

/// How long discovered metadata and keys are used before they are asked again.
const DISCOVERY_TTL: Duration = Duration::from_secs(300);
/// How long a flow waits for the browser to come back, in ms.
const FLOW_MS: i64 = 10 * 60_000;
/// How long one request to the provider may take.
const PROVIDER_TIMEOUT: Duration = Duration::from_secs(10);

/// Where the provider is and who Ringside is to it.
#[derive(Clone)]
pub struct ProviderConfig {
    /// The issuer (`https://id.example.com/realms/office`); its
    /// `/.well-known/openid-configuration` is read.
    pub issuer: String,
    pub client_id: String,
    /// None: a public client (PKCE alone).
    pub client_secret: Option<String>,
    /// Where the provider sends the browser back: the web front's
    /// `/signin/provider/callback`.
    pub redirect_url: String,
    /// Asked beside `openid email profile` (some providers want `groups`).
    pub extra_scopes: Vec<String>,
}

impl std::fmt::Debug for ProviderConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderConfig")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret.as_ref().map(|_| "…"))
            .field("redirect_url", &self.redirect_url)
            .finish()
    }
}

/// The claim beyond the standard ones Ringside reads: the person's groups.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Groups {
    #[serde(default)]
    pub groups: Vec<String>,
}

impl AdditionalClaims for Groups {}

type Fields = IdTokenFields<
    Groups,
    EmptyExtraTokenFields,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
>;
type Tokens = StandardTokenResponse<Fields, CoreTokenType>;
type OidcClient = Client<
    Groups,
    CoreAuthDisplay,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJsonWebKey,
    CoreAuthPrompt,
    StandardErrorResponse<CoreErrorResponseType>,
    Tokens,
    CoreTokenIntrospectionResponse,
    CoreRevocableToken,
    CoreRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// Who the provider says signed in, from a checked ID token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub issuer: String,
    pub subject: String,
    /// Only an address the provider says it verified, in lower case.
    pub email: Option<String>,
    pub name: String,
    pub groups: Vec<String>,
}

/// A provider and what was discovered of it.
pub struct Provider {
    config: ProviderConfig,
    issuer: IssuerUrl,
    redirect: RedirectUrl,
    http: reqwest::Client,
    discovered: Mutex<Discovered>,
}

/// The last discovery, and the last failure.
#[derive(Default)]
struct Discovered {
    client: Option<(Instant, Arc<OidcClient>)>,
    failed_at: Option<Instant>,
}

/// How long after a failed discovery the provider is not asked again.
const RETRY_AFTER: Duration = Duration::from_secs(5);

impl std::fmt::Debug for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Provider")
            .field("issuer", &self.config.issuer)
            .field("client_id", &self.config.client_id)
            .finish_non_exhaustive()
    }
}

fn unavailable(what: &str, err: impl std::fmt::Display) -> StaffError {
    tracing::warn!(error = %err, "{what}");
    StaffError::Unavailable("the sign-in provider did not answer; try again soon")
}

impl Provider {
    /// Checks the addresses; nothing is asked of the provider until the first sign-in.
    pub fn new(config: ProviderConfig) -> Result<Self> {
        let issuer = IssuerUrl::new(config.issuer.clone())
            .map_err(|e| Invalid::new("oidc issuer", e.to_string()))?;
        if !secure_or_loopback(issuer.url()) {
            let why = "must be https (the client secret goes there), but for a loopback address";
            return Err(Invalid::new("oidc issuer", why).into());
        }
        let redirect = RedirectUrl::new(config.redirect_url.clone())
            .map_err(|e| Invalid::new("oidc redirect url", e.to_string()))?;
        // Never follow a redirect (SSRF), as the OpenID Connect client advises.
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(PROVIDER_TIMEOUT)
            .build()
            .map_err(|e| unavailable("no HTTP client for the provider", e))?;
        Ok(Provider {
            config,
            issuer,
            redirect,
            http,
            discovered: Mutex::new(Discovered::default()),
        })
    }

    /// The client for the provider as last discovered: discovered again when older
    /// than the TTL (so rotated keys are picked up within minutes) or when `fresh`;
    /// while the provider does not answer, the last one discovered serves, and a
    /// provider that just failed is not asked again for a few seconds. The lock is
    /// not held while the provider is asked.
    async fn client(&self, fresh: bool) -> Result<Arc<OidcClient>> {
        let last = {
            let discovered = self.discovered.lock().await;
            let cached = discovered.client.clone();
            if let Some((at, client)) = &cached
                && !fresh
                && at.elapsed() < DISCOVERY_TTL
            {
                return Ok(client.clone());
            }
            if discovered
                .failed_at
                .is_some_and(|t| t.elapsed() < RETRY_AFTER)
            {
                return cached.map(|(_, c)| c).ok_or_else(|| {
                    unavailable(
                        "the sign-in provider failed moments ago",
                        "not asked again yet",
                    )
                });
            }
            cached.map(|(_, c)| c)
        };
        match self.discover().await {
            Ok(client) => {
                let mut discovered = self.discovered.lock().await;
                *discovered = Discovered {
                    client: Some((Instant::now(), client.clone())),
                    failed_at: None,
                };
                Ok(client)
            }
            Err(e) => {
                self.discovered.lock().await.failed_at = Some(Instant::now());
                last.ok_or(e)
            }
        }
    }

    async fn discover(&self) -> Result<Arc<OidcClient>> {
        let metadata = CoreProviderMetadata::discover_async(self.issuer.clone(), &self.http)
            .await
            .map_err(|e| unavailable("discovering the sign-in provider failed", e))?;
        let secret = self.config.client_secret.clone().map(ClientSecret::new);
        let client = OidcClient::from_provider_metadata(
            metadata,
            ClientId::new(self.config.client_id.clone()),
            secret,
        )
        .set_redirect_uri(self.redirect.clone());
        Ok(Arc::new(client))
    }

    /// A new flow: the provider's address to send the browser to, and the flow's
    /// state (which the browser must bring back, and the web front binds to it).
    pub async fn start(&self, db: &Db) -> Result<(String, String)> {
        let client = self.client(false).await?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                || CsrfToken::new_random_len(32),
                || Nonce::new_random_len(32),
            )
            .add_scope(Scope::new("email".into()))
            .add_scope(Scope::new("profile".into()))
            .set_pkce_challenge(challenge);
        for scope in &self.config.extra_scopes {
            request = request.add_scope(Scope::new(scope.clone()));
        }
        let (url, state, nonce) = request.url();
        let flow = Flow {
            verifier: verifier.secret().clone(),
            nonce: nonce.secret().clone(),
            expires_at: now_millis() + FLOW_MS,
        };
        let mut conn = db.pool().acquire().await?;
        insert_flow(&mut conn, &secret_hash(state.secret()), &flow).await?;
        Ok((url.to_string(), state.secret().clone()))
    }

    /// The browser came back with `state` and `code`: the flow is used up, the code
    /// exchanged (with the flow's PKCE verifier) and the ID token checked. `Ok(Err)`
    /// names why a sign-in that did not hold failed (for the audit trail).
    pub async fn finish(
        &self,
        db: &Db,
        state: &str,
        code: &str,
    ) -> Result<std::result::Result<Identity, String>> {
        let mut conn = db.pool().acquire().await?;
        let flow = take_flow(&mut conn, &secret_hash(state)).await?;
        drop(conn);
        let Some(flow) = flow.filter(|f| now_millis() < f.expires_at) else {
            return Ok(Err("unknown_state".into()));
        };
        let client = self.client(false).await?;
        let exchange = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .map_err(|e| unavailable("the provider has no token endpoint", e))?
            .set_pkce_verifier(PkceCodeVerifier::new(flow.verifier));
        let tokens = match exchange.request_async(&self.http).await {
            Ok(tokens) => tokens,
            Err(RequestTokenError::ServerResponse(e)) => {
                return Ok(Err(format!("code_refused: {}", e.error())));
            }
            Err(e) => return Err(unavailable("exchanging a code at the provider failed", e)),
        };
        let Some(id_token) = tokens.id_token() else {
            return Ok(Err("no_id_token".into()));
        };
        let nonce = Nonce::new(flow.nonce);
        let mut checked = id_token.claims(&client.id_token_verifier(), &nonce);
        // Signed with a key not seen yet: the provider may have rotated its keys.
        let fresh;
        if let Err(ClaimsVerificationError::SignatureVerification(_)) = checked {
            fresh = self.client(true).await?;
            checked = id_token.claims(&fresh.id_token_verifier(), &nonce);
        }
        let claims = match checked {
            Ok(claims) => claims,
            Err(e) => return Ok(Err(format!("id_token: {e}"))),
        };
        let email = claims
            .email()
            .filter(|_| claims.email_verified() == Some(true))
            .map(|e| e.as_str().trim().to_lowercase());
        let name = claims
            .name()
            .and_then(|n| n.get(None))
            .map(|n| n.to_string());
        Ok(Ok(Identity {
            issuer: claims.issuer().as_str().to_owned(),
            subject: claims.subject().as_str().to_owned(),
            name: name.or_else(|| email.clone()).unwrap_or_default(),
            email,
            groups: claims.additional_claims().groups.clone(),
        }))
    }

    /// The browser came back with `state` but the sign-in was refused before the
    /// code was looked at: the flow is used up all the same.
    pub async fn abandon(&self, db: &Db, state: &str) -> Result<()> {
        let mut conn = db.pool().acquire().await?;
        take_flow(&mut conn, &secret_hash(state)).await?;
        Ok(())
    }
}

/// Whether `url` is https, or http to this machine (a provider for tests, a sidecar).
fn secure_or_loopback(url: &openidconnect::url::Url) -> bool {
    let loopback = match url.host() {
        Some(openidconnect::url::Host::Domain(d)) => d == "localhost",
        Some(openidconnect::url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(openidconnect::url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    url.scheme() == "https" || (url.scheme() == "http" && loopback)
}

/// A flow sent to the provider.
struct Flow {
    verifier: String,
    nonce: String,
    expires_at: i64,
}

async fn insert_flow(conn: &mut AnyConnection, state_hash: &str, flow: &Flow) -> Result<()> {
    sqlx::query("DELETE FROM provider_flows WHERE expires_at < $1")
        .bind(now_millis())
        .execute(&mut *conn)
        .await?;
    sqlx::query(
        "INSERT INTO provider_flows (state_hash, pkce_verifier, nonce, expires_at) \
         VALUES ($1, $2, $3, $4)",
    )
    .bind(state_hash)
    .bind(&flow.verifier)
    .bind(&flow.nonce)
    .bind(flow.expires_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// The flow of `state_hash`, deleted: a state is good for one try.
async fn take_flow(conn: &mut AnyConnection, state_hash: &str) -> Result<Option<Flow>> {
    let row: Option<(String, String, i64)> = sqlx::query_as(
        "SELECT pkce_verifier, nonce, expires_at FROM provider_flows WHERE state_hash = $1",
    )
    .bind(state_hash)
    .fetch_optional(&mut *conn)
    .await?;
    let taken = sqlx::query("DELETE FROM provider_flows WHERE state_hash = $1")
        .bind(state_hash)
        .execute(conn)
        .await?;
    // Two tries at once: only the one that deleted it goes on.
    Ok(row
        .filter(|_| taken.rows_affected() == 1)
        .map(|(verifier, nonce, expires_at)| Flow {
            verifier,
            nonce,
            expires_at,
        }))
}

/// The user an account at a provider is linked to.
pub async fn linked_user(
    conn: &mut AnyConnection,
    issuer: &str,
    subject: &str,
) -> Result<Option<String>> {
    Ok(
        sqlx::query_scalar(
            "SELECT user_id FROM user_identities WHERE issuer = $1 AND subject = $2",
        )
        .bind(issuer)
        .bind(subject)
        .fetch_optional(conn)
        .await?,
    )
}

/// Whether `user_id` is linked to an account at `issuer` already.
pub async fn linked_at(conn: &mut AnyConnection, issuer: &str, user_id: &str) -> Result<bool> {
    let found: Option<String> = sqlx::query_scalar(
        "SELECT subject FROM user_identities WHERE issuer = $1 AND user_id = $2 LIMIT 1",
    )
    .bind(issuer)
    .bind(user_id)
    .fetch_optional(conn)
    .await?;
    Ok(found.is_some())
}

pub async fn link(conn: &mut AnyConnection, who: &Identity, user_id: &str) -> Result<()> {
    sqlx::query(
        "INSERT INTO user_identities (issuer, subject, user_id, linked_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(&who.issuer)
    .bind(&who.subject)
    .bind(user_id)
    .bind(now_millis())
    .execute(conn)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(issuer: &str) -> ProviderConfig {
        ProviderConfig {
            issuer: issuer.into(),
            client_id: "ringside".into(),
            client_secret: Some("s3cret".into()),
            redirect_url: "https://crm.example.com/signin/provider/callback".into(),
            extra_scopes: Vec::new(),
        }
    }

    #[test]
    fn the_client_secret_goes_only_over_tls_or_to_this_machine() {
        for ok in [
            "https://id.example.com/realms/office",
            "http://127.0.0.1:9400",
            "http://localhost:9400",
            "http://[::1]:9400",
        ] {
            assert!(Provider::new(config(ok)).is_ok(), "{ok}");
        }
        for bad in ["http://id.example.com", "ftp://id.example.com", "not a url"] {
            assert!(Provider::new(config(bad)).is_err(), "{bad}");
        }
        let shown = format!("{:?}", config("https://id.example.com"));
        assert!(!shown.contains("s3cret"), "{shown}");
    }
}
