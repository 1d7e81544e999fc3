//! SQL for the contacts service's tables. Every function runs on the connection or
//! transaction it is given, so the service decides what is atomic.

use std::collections::{BTreeMap, HashMap};

use ringside_auth::visibility::Scope;
use ringside_storage::sql::{Where, like_pattern, placeholders};
use ringside_storage::{AssertSqlSafe, Row};
use sqlx::AnyConnection;
use sqlx::any::AnyRow;

use crate::domain::{Identity, IdentityKind, LeadStatus};
use crate::error::{ContactsError, Result};
use crate::model::{
    Company, Contact, ContactFilter, DeletedFilter, Lead, LeadFilter, LeadSource, Page, Party,
};

/// Which record an identity belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owner {
    Contact(String),
    Lead(String),
}

fn opt_text(row: &AnyRow, column: &str) -> Result<Option<String>> {
    Ok(row.try_get::<Option<String>, _>(column)?)
}

/// The row of `table` with this id, or `NotFound` naming `kind`.
async fn fetch_by_id(
    conn: &mut AnyConnection,
    table: &str,
    kind: &'static str,
    id: &str,
) -> Result<AnyRow> {
    sqlx::query(AssertSqlSafe(format!(
        "SELECT * FROM {table} WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(conn)
    .await?
    .ok_or_else(|| ContactsError::not_found(kind, id))
}

/// One page of `SELECT {alias}.* FROM {table} {alias}` under `w`, newest first, with
/// one look-ahead row that tells whether another page follows.
async fn fetch_page(
    conn: &mut AnyConnection,
    table: &str,
    alias: &str,
    mut w: Where,
    page: &Page,
) -> Result<Vec<AnyRow>> {
    // Newest first by id (`Cursor::by_id`).
    if let Some(after) = &page.after {
        w.push(&format!("{alias}.id < {{}}"), after.id.clone());
    }
    let sql = format!(
        "SELECT {alias}.* FROM {table} {alias} WHERE {} ORDER BY {alias}.id DESC LIMIT {}",
        w.sql(),
        page.size + 1
    );
    Ok(w.query(sql).fetch_all(conn).await?)
}

/// A page of contacts or leads under `w` whose name or one of whose identities holds
/// `query`. Two queries, one per condition, merged newest first: each reads one table
/// by one pattern, so PostgreSQL answers a rare pattern from its trigram index and a
/// common one by walking the newest rows; one `OR` across both tables would have it
/// read every row. The first page of each is enough: the merged page takes the
/// newest of both.
async fn fetch_named(
    conn: &mut AnyConnection,
    table: &str,
    alias: &str,
    w: Where,
    query: Option<&str>,
    page: &Page,
) -> Result<Vec<AnyRow>> {
    let Some(q) = query else {
        return fetch_page(conn, table, alias, w, page).await;
    };
    let link = match table {
        "contacts" => "contact_id",
        _ => "lead_id",
    };
    let pattern = like_pattern(q);
    let mut by_name = w.clone();
    by_name.push_pattern(
        &format!("{alias}.name_lower LIKE {{}} ESCAPE '\\'"),
        pattern.clone(),
    );
    // A pattern's query is planned with it each time; the key's stays prepared.
    let by_identity = |condition: &str, value: String, pattern: bool| {
        let mut by = w.clone();
        let clause = format!("{alias}.id IN (SELECT i.{link} FROM identities i WHERE {condition})");
        match pattern {
            true => by.push_pattern(&clause, value),
            false => by.push(&clause, value),
        }
        by
    };
    let mut rows = fetch_page(conn, table, alias, by_name, page).await?;
    // What looks like a whole number in E.164 (what a number written any way
    // becomes) is first asked by its identity's key, not by a pattern every stored
    // number shares the start of; when that finds nobody, it is a part of a number.
    let whole_number =
        q.len() >= 8 && q.starts_with('+') && q[1..].bytes().all(|b| b.is_ascii_digit());
    let exact = match whole_number {
        true => {
            let by = by_identity("i.kind = 'phone' AND i.value = {}", q.to_owned(), false);
            fetch_page(conn, table, alias, by, page).await?
        }
        false => Vec::new(),
    };
    rows.extend(match exact.is_empty() {
        true => {
            let by = by_identity("i.value LIKE {} ESCAPE '\\'", pattern, true);
            fetch_page(conn, table, alias, by, page).await?
        }
        false => exact,
    });
    let mut keyed = rows
        .into_iter()
        .map(|row| Ok((row.try_get::<String, _>("id")?, row)))
        .collect::<Result<Vec<_>>>()?;
    keyed.sort_by(|a, b| b.0.cmp(&a.0));
    keyed.dedup_by(|a, b| a.0 == b.0);
    keyed.truncate(page.size as usize + 1);
    Ok(keyed.into_iter().map(|(_, row)| row).collect())
}

// ---------------------------------------------------------------- companies

pub async fn insert_company(conn: &mut AnyConnection, c: &Company) -> Result<()> {
    sqlx::query(
        "INSERT INTO companies (id, name, name_lower, owner_id, created_at, updated_at, team_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&c.id)
    .bind(&c.name)
    .bind(c.name.to_lowercase())
    .bind(&c.owner_id)
    .bind(c.created_at)
    .bind(c.updated_at)
    .bind(&c.team_id)
    .execute(conn)
    .await?;
    Ok(())
}

fn company_from_row(row: &AnyRow) -> Result<Company> {
    Ok(Company {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        owner_id: row.try_get("owner_id")?,
        team_id: row.try_get("team_id")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

pub async fn get_company(conn: &mut AnyConnection, id: &str) -> Result<Company> {
    company_from_row(&fetch_by_id(conn, "companies", "company", id).await?)
}

pub async fn list_companies(
    conn: &mut AnyConnection,
    scope: &Scope,
    query: Option<&str>,
    page: &Page,
) -> Result<Vec<Company>> {
    let mut w = Where::default();
    ringside_kit::scope::push(&mut w, scope, "c.owner_id", "c.team_id");
    if let Some(q) = query {
        w.push_pattern("c.name_lower LIKE {} ESCAPE '\\'", like_pattern(q));
    }
    let rows = fetch_page(conn, "companies", "c", w, page).await?;
    rows.iter().map(company_from_row).collect()
}

// ---------------------------------------------------------------- identities

/// Gives `identities` to `owner`. Fails with the current owner when one is taken;
/// the caller's transaction then rolls back and nothing is written.
pub async fn claim_identities(
    conn: &mut AnyConnection,
    owner: &Owner,
    identities: &[Identity],
) -> Result<()> {
    for identity in identities {
        if !claim_if_free(conn, owner, identity).await? {
            let holder = find_identity(conn, identity).await?;
            return Err(taken(identity, holder));
        }
    }
    Ok(())
}

/// Gives `identity` to `owner` unless someone holds it; whether it did.
pub async fn claim_if_free(
    conn: &mut AnyConnection,
    owner: &Owner,
    identity: &Identity,
) -> Result<bool> {
    let (contact_id, lead_id) = match owner {
        Owner::Contact(id) => (Some(id.as_str()), None),
        Owner::Lead(id) => (None, Some(id.as_str())),
    };
    let done = sqlx::query(
        "INSERT INTO identities (kind, value, contact_id, lead_id, rev_digits) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
    )
    .bind(identity.kind.as_str())
    .bind(&identity.value)
    .bind(contact_id)
    .bind(lead_id)
    .bind(identity.reversed_digits())
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

fn taken(identity: &Identity, holder: Option<Owner>) -> ContactsError {
    match holder {
        Some(Owner::Lead(lead_id)) => ContactsError::IdentityTakenByLead {
            identity: identity.to_string(),
            lead_id,
        },
        Some(Owner::Contact(contact_id)) => ContactsError::IdentityTaken {
            identity: identity.to_string(),
            contact_id,
        },
        None => ContactsError::Contended(format!("{identity} changed concurrently")),
    }
}

fn owner_from_row(row: &AnyRow) -> Result<Option<Owner>> {
    Ok(
        match (opt_text(row, "contact_id")?, opt_text(row, "lead_id")?) {
            (Some(id), _) => Some(Owner::Contact(id)),
            (None, Some(id)) => Some(Owner::Lead(id)),
            (None, None) => None,
        },
    )
}

/// Separates a kind from its value, and one value from the next, in the lists
/// [`find_party`] aggregates (neither occurs in an identity or a tag: both are
/// cleaned of control characters).
const UNIT: &str = "\u{1f}";
const RECORD: &str = "\u{1e}";

/// The contact or lead holding `identity`, if anyone, with the name of its company. A
/// contact — the common case of a known caller — is read in one statement: the
/// holder, the contact row, its company's name, its identities and its tags.
pub async fn find_party(
    conn: &mut AnyConnection,
    identity: &Identity,
) -> Result<Option<(Party, String)>> {
    let row = sqlx::query(
        "SELECT i.contact_id AS holder_contact, i.lead_id AS holder_lead, \
                co.name AS holder_company, c.*, \
                (SELECT string_agg(x.kind || $3 || x.value, $4) FROM identities x \
                 WHERE x.contact_id = i.contact_id) AS holder_identities, \
                (SELECT string_agg(t.tag, $4) FROM contact_tags t \
                 WHERE t.contact_id = i.contact_id) AS holder_tags \
         FROM identities i LEFT JOIN contacts c ON c.id = i.contact_id \
         LEFT JOIN companies co ON co.id = c.company_id \
         WHERE i.kind = $1 AND i.value = $2",
    )
    .bind(identity.kind.as_str())
    .bind(&identity.value)
    .bind(UNIT)
    .bind(RECORD)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else { return Ok(None) };
    match (
        opt_text(&row, "holder_contact")?,
        opt_text(&row, "holder_lead")?,
    ) {
        (Some(_), _) => {
            let company = opt_text(&row, "holder_company")?.unwrap_or_default();
            let mut contact = contact_from_row(&row)?;
            contact.identities = aggregated_identities(opt_text(&row, "holder_identities")?);
            contact.tags = aggregated(opt_text(&row, "holder_tags")?);
            Ok(Some((Party::Contact(contact), company)))
        }
        (None, Some(lead)) => {
            let lead = get_lead(conn, &lead).await?;
            let company = lead.company_name.clone();
            Ok(Some((Party::Lead(lead), company)))
        }
        (None, None) => Ok(None),
    }
}

/// The values of a `string_agg(…, RECORD)` column, sorted (as [`details_of`] reads
/// them).
fn aggregated(column: Option<String>) -> Vec<String> {
    let mut values: Vec<String> = column
        .iter()
        .flat_map(|c| c.split(RECORD))
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
        .collect();
    values.sort();
    values
}

/// The identities of a `string_agg(kind || UNIT || value, RECORD)` column, sorted by
/// kind and value.
fn aggregated_identities(column: Option<String>) -> Vec<Identity> {
    aggregated(column)
        .iter()
        .filter_map(|pair| {
            let (kind, value) = pair.split_once(UNIT)?;
            Some(Identity {
                kind: IdentityKind::from_db(kind)?,
                value: value.to_owned(),
            })
        })
        .collect()
}

/// Who holds `identity`, if anyone.
pub async fn find_identity(conn: &mut AnyConnection, identity: &Identity) -> Result<Option<Owner>> {
    let row =
        sqlx::query("SELECT contact_id, lead_id FROM identities WHERE kind = $1 AND value = $2")
            .bind(identity.kind.as_str())
            .bind(&identity.value)
            .fetch_optional(conn)
            .await?;
    Ok(match row {
        Some(row) => owner_from_row(&row)?,
        None => None,
    })
}

/// The one holder of a phone number ending in these (reversed) digits; `None` when
/// nobody or more than one holder matches. An index range scan on `rev_digits`.
pub async fn find_phone_by_tail(
    conn: &mut AnyConnection,
    reversed_tail: &str,
) -> Result<Option<Owner>> {
    let upper = format!("{reversed_tail}:"); // ':' sorts right after '9'
    let rows = sqlx::query(
        "SELECT DISTINCT contact_id, lead_id FROM identities \
         WHERE rev_digits >= $1 AND rev_digits < $2 LIMIT 2",
    )
    .bind(reversed_tail)
    .bind(upper)
    .fetch_all(conn)
    .await?;
    match rows.as_slice() {
        [row] => owner_from_row(row),
        _ => Ok(None),
    }
}

/// Identities (and, for contacts, tags) of the records whose `column` is in `ids`.
#[derive(Default)]
struct Details {
    identities: Vec<Identity>,
    tags: Vec<String>,
}

/// Reads identities and tags in one round trip: this runs on the caller-ID path.
async fn details_of(
    conn: &mut AnyConnection,
    column: &str,
    ids: &[String],
    with_tags: bool,
) -> Result<HashMap<String, Details>> {
    let mut out: HashMap<String, Details> = HashMap::new();
    if ids.is_empty() {
        return Ok(out);
    }
    let list = placeholders(1, ids.len());
    let mut sql =
        format!("SELECT {column} AS owner, kind, value FROM identities WHERE {column} IN ({list})");
    if with_tags {
        sql.push_str(&format!(
            " UNION ALL SELECT contact_id, 'tag', tag FROM contact_tags WHERE contact_id IN ({list})"
        ));
    }
    sql.push_str(" ORDER BY 2, 3");
    let mut q = sqlx::query(AssertSqlSafe(sql));
    for id in ids {
        q = q.bind(id.clone());
    }
    for row in q.fetch_all(conn).await? {
        let entry = out.entry(row.try_get("owner")?).or_default();
        let (kind, value): (String, String) = (row.try_get("kind")?, row.try_get("value")?);
        match IdentityKind::from_db(&kind) {
            Some(kind) => entry.identities.push(Identity { kind, value }),
            None if kind == "tag" => entry.tags.push(value),
            None => {}
        }
    }
    Ok(out)
}

/// Moves every identity of `from` to `to`.
pub async fn move_identities(conn: &mut AnyConnection, from: &Owner, to: &Owner) -> Result<()> {
    let (from_col, from_id) = owner_column(from);
    let (contact_id, lead_id) = match to {
        Owner::Contact(id) => (Some(id.as_str()), None),
        Owner::Lead(id) => (None, Some(id.as_str())),
    };
    let sql = format!("UPDATE identities SET contact_id = $1, lead_id = $2 WHERE {from_col} = $3");
    sqlx::query(AssertSqlSafe(sql))
        .bind(contact_id)
        .bind(lead_id)
        .bind(from_id)
        .execute(conn)
        .await?;
    Ok(())
}

fn owner_column(owner: &Owner) -> (&'static str, &str) {
    match owner {
        Owner::Contact(id) => ("contact_id", id.as_str()),
        Owner::Lead(id) => ("lead_id", id.as_str()),
    }
}

pub async fn release_identities(conn: &mut AnyConnection, owner: &Owner) -> Result<()> {
    let (column, id) = owner_column(owner);
    sqlx::query(AssertSqlSafe(format!(
        "DELETE FROM identities WHERE {column} = $1"
    )))
    .bind(id)
    .execute(conn)
    .await?;
    Ok(())
}

// ---------------------------------------------------------------- contacts

pub async fn insert_contact(conn: &mut AnyConnection, c: &Contact) -> Result<()> {
    sqlx::query(
        "INSERT INTO contacts (id, name, name_lower, company_id, owner_id, custom_fields, created_at, updated_at, team_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(&c.id)
    .bind(&c.name)
    .bind(c.name.to_lowercase())
    .bind(c.company_id.as_deref())
    .bind(&c.owner_id)
    .bind(fields_json(&c.custom_fields))
    .bind(c.created_at)
    .bind(c.updated_at)
    .bind(&c.team_id)
    .execute(&mut *conn)
    .await?;
    replace_tags(conn, &c.id, &c.tags).await
}

/// Writes the contact's own columns (not tags or identities).
pub async fn update_contact_row(conn: &mut AnyConnection, c: &Contact) -> Result<()> {
    sqlx::query(
        "UPDATE contacts SET name = $2, name_lower = $3, company_id = $4, owner_id = $5, \
         custom_fields = $6, updated_at = $7, deleted_at = $8, merged_into = $9, team_id = $10 \
         WHERE id = $1",
    )
    .bind(&c.id)
    .bind(&c.name)
    .bind(c.name.to_lowercase())
    .bind(c.company_id.as_deref())
    .bind(&c.owner_id)
    .bind(fields_json(&c.custom_fields))
    .bind(c.updated_at)
    .bind(c.deleted_at)
    .bind(c.merged_into.as_deref())
    .bind(&c.team_id)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn replace_tags(
    conn: &mut AnyConnection,
    contact_id: &str,
    tags: &[String],
) -> Result<()> {
    sqlx::query("DELETE FROM contact_tags WHERE contact_id = $1")
        .bind(contact_id)
        .execute(&mut *conn)
        .await?;
    for tag in tags {
        sqlx::query("INSERT INTO contact_tags (contact_id, tag) VALUES ($1, $2)")
            .bind(contact_id)
            .bind(tag)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

fn fields_json(fields: &BTreeMap<String, String>) -> String {
    serde_json::to_string(fields).unwrap_or_else(|_| "{}".to_owned())
}

fn contact_from_row(row: &AnyRow) -> Result<Contact> {
    let fields: String = row.try_get("custom_fields")?;
    Ok(Contact {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        company_id: opt_text(row, "company_id")?,
        owner_id: row.try_get("owner_id")?,
        team_id: row.try_get("team_id")?,
        tags: Vec::new(),
        custom_fields: serde_json::from_str(&fields).unwrap_or_default(),
        identities: Vec::new(),
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        deleted_at: row.try_get("deleted_at")?,
        merged_into: opt_text(row, "merged_into")?,
    })
}

/// Fills in tags and identities of `contacts` with two queries.
async fn complete_contacts(conn: &mut AnyConnection, contacts: &mut [Contact]) -> Result<()> {
    let ids: Vec<String> = contacts.iter().map(|c| c.id.clone()).collect();
    let mut details = details_of(conn, "contact_id", &ids, true).await?;
    for c in contacts {
        let d = details.remove(&c.id).unwrap_or_default();
        (c.identities, c.tags) = (d.identities, d.tags);
    }
    Ok(())
}

pub async fn get_contact(conn: &mut AnyConnection, id: &str) -> Result<Contact> {
    let row = fetch_by_id(conn, "contacts", "contact", id).await?;
    let mut contacts = [contact_from_row(&row)?];
    complete_contacts(conn, &mut contacts).await?;
    let [contact] = contacts;
    Ok(contact)
}

pub async fn list_contacts(
    conn: &mut AnyConnection,
    scope: &Scope,
    filter: &ContactFilter,
    page: &Page,
) -> Result<Vec<Contact>> {
    let mut w = Where::default();
    ringside_kit::scope::push(&mut w, scope, "c.owner_id", "c.team_id");
    match filter.deleted {
        DeletedFilter::Exclude => w.push_plain("c.deleted_at IS NULL"),
        DeletedFilter::Only => w.push_plain("c.deleted_at IS NOT NULL"),
        DeletedFilter::Include => {}
    }
    if let Some(tag) = &filter.tag {
        w.push(
            "EXISTS (SELECT 1 FROM contact_tags t WHERE t.contact_id = c.id AND t.tag = {})",
            tag.to_lowercase(),
        );
    }
    if let Some(owner) = &filter.owner_id {
        w.push("c.owner_id = {}", owner.clone());
    }
    if let Some(company) = &filter.company_id {
        w.push("c.company_id = {}", company.clone());
    }
    let rows = fetch_named(conn, "contacts", "c", w, filter.query.as_deref(), page).await?;
    let mut contacts = rows
        .iter()
        .map(contact_from_row)
        .collect::<Result<Vec<_>>>()?;
    complete_contacts(conn, &mut contacts).await?;
    Ok(contacts)
}

/// Moves the tags of `from` onto `to`, keeping the ones `to` already has.
pub async fn merge_tags(conn: &mut AnyConnection, from: &str, to: &str) -> Result<()> {
    sqlx::query(
        "INSERT INTO contact_tags (contact_id, tag) \
         SELECT $2, tag FROM contact_tags WHERE contact_id = $1 ON CONFLICT DO NOTHING",
    )
    .bind(from)
    .bind(to)
    .execute(&mut *conn)
    .await?;
    sqlx::query("DELETE FROM contact_tags WHERE contact_id = $1")
        .bind(from)
        .execute(conn)
        .await?;
    Ok(())
}

/// Points converted leads of `from` at `to`.
pub async fn relink_leads(conn: &mut AnyConnection, from: &str, to: &str) -> Result<()> {
    sqlx::query("UPDATE leads SET contact_id = $2 WHERE contact_id = $1")
        .bind(from)
        .bind(to)
        .execute(conn)
        .await?;
    Ok(())
}

// ---------------------------------------------------------------- leads

pub async fn insert_lead(conn: &mut AnyConnection, l: &Lead) -> Result<()> {
    sqlx::query(
        "INSERT INTO leads (id, name, name_lower, company_name, source_channel, source_campaign, \
         status, owner_id, disqualify_reason, contact_id, created_at, updated_at, team_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
    )
    .bind(&l.id)
    .bind(&l.name)
    .bind(l.name.to_lowercase())
    .bind(&l.company_name)
    .bind(&l.source.channel)
    .bind(&l.source.campaign)
    .bind(l.status.as_str())
    .bind(&l.owner_id)
    .bind(&l.disqualify_reason)
    .bind(l.contact_id.as_deref())
    .bind(l.created_at)
    .bind(l.updated_at)
    .bind(&l.team_id)
    .execute(conn)
    .await?;
    Ok(())
}

/// Locks the row of `table` (contacts or leads) `id` for the transaction, so what
/// the transaction reads next is not changed under it; with `expected`, only while
/// its owner is still that one ("": nobody), else `OwnerChanged` — a second taker
/// waits for the first, then sees the first one's owner. A missing row locks
/// nothing: the read that follows says it is not found.
pub async fn lock_owned(
    conn: &mut AnyConnection,
    table: &str,
    id: &str,
    expected: Option<&str>,
) -> Result<()> {
    let sql = match expected {
        Some(_) => "UPDATE {table} SET updated_at = updated_at WHERE id = $1 AND owner_id = $2",
        None => "UPDATE {table} SET updated_at = updated_at WHERE id = $1",
    };
    let query = sqlx::query(AssertSqlSafe(sql.replace("{table}", table))).bind(id);
    let locked = match expected {
        Some(owner) => query.bind(owner).execute(&mut *conn).await?,
        None => query.execute(&mut *conn).await?,
    };
    match (locked.rows_affected(), expected) {
        (0, Some(_)) if exists(conn, table, id).await? => Err(ContactsError::OwnerChanged(
            format!("{id} has another owner now"),
        )),
        _ => Ok(()),
    }
}

async fn exists(conn: &mut AnyConnection, table: &str, id: &str) -> Result<bool> {
    let found = sqlx::query(AssertSqlSafe(format!(
        "SELECT 1 FROM {table} WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(conn)
    .await?;
    Ok(found.is_some())
}

/// Locks lead `id` for this transaction while it is not converted; a converted (or
/// missing) lead is refused as such.
pub async fn claim_open_lead(conn: &mut AnyConnection, id: &str) -> Result<()> {
    let claimed = sqlx::query(
        "UPDATE leads SET updated_at = updated_at WHERE id = $1 AND contact_id IS NULL",
    )
    .bind(id)
    .execute(conn)
    .await?;
    match claimed.rows_affected() {
        0 => Err(ContactsError::FailedPrecondition(format!(
            "lead {id} is converted already, or gone"
        ))),
        _ => Ok(()),
    }
}

/// Marks contact `id` changed at `now` if it is neither deleted nor merged (and so
/// locks it for this transaction); whether it was.
pub async fn touch_live_contact(conn: &mut AnyConnection, id: &str, now: i64) -> Result<bool> {
    let touched = sqlx::query(
        "UPDATE contacts SET updated_at = $2 WHERE id = $1 AND deleted_at IS NULL \
         AND merged_into IS NULL",
    )
    .bind(id)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(touched.rows_affected() > 0)
}

/// Writes a lead's name, company name and update time.
pub async fn update_lead_details(conn: &mut AnyConnection, l: &Lead) -> Result<()> {
    sqlx::query(
        "UPDATE leads SET name = $2, name_lower = $3, company_name = $4, updated_at = $5 \
         WHERE id = $1",
    )
    .bind(&l.id)
    .bind(&l.name)
    .bind(l.name.to_lowercase())
    .bind(&l.company_name)
    .bind(l.updated_at)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn update_lead_row(conn: &mut AnyConnection, l: &Lead) -> Result<()> {
    sqlx::query(
        "UPDATE leads SET status = $2, owner_id = $3, disqualify_reason = $4, contact_id = $5, \
         updated_at = $6, team_id = $7 WHERE id = $1",
    )
    .bind(&l.id)
    .bind(l.status.as_str())
    .bind(&l.owner_id)
    .bind(&l.disqualify_reason)
    .bind(l.contact_id.as_deref())
    .bind(l.updated_at)
    .bind(&l.team_id)
    .execute(conn)
    .await?;
    Ok(())
}

fn lead_from_row(row: &AnyRow) -> Result<Lead> {
    let status: String = row.try_get("status")?;
    Ok(Lead {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        company_name: row.try_get("company_name")?,
        identities: Vec::new(),
        source: LeadSource {
            channel: row.try_get("source_channel")?,
            campaign: row.try_get("source_campaign")?,
        },
        status: LeadStatus::from_db(&status).unwrap_or(LeadStatus::New),
        owner_id: row.try_get("owner_id")?,
        team_id: row.try_get("team_id")?,
        disqualify_reason: row.try_get("disqualify_reason")?,
        contact_id: opt_text(row, "contact_id")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

async fn complete_leads(conn: &mut AnyConnection, leads: &mut [Lead]) -> Result<()> {
    let ids: Vec<String> = leads.iter().map(|l| l.id.clone()).collect();
    let mut details = details_of(conn, "lead_id", &ids, false).await?;
    for l in leads {
        l.identities = details.remove(&l.id).unwrap_or_default().identities;
    }
    Ok(())
}

pub async fn get_lead(conn: &mut AnyConnection, id: &str) -> Result<Lead> {
    let row = fetch_by_id(conn, "leads", "lead", id).await?;
    let mut leads = [lead_from_row(&row)?];
    complete_leads(conn, &mut leads).await?;
    let [lead] = leads;
    Ok(lead)
}

pub async fn list_leads(
    conn: &mut AnyConnection,
    scope: &Scope,
    filter: &LeadFilter,
    page: &Page,
) -> Result<Vec<Lead>> {
    let mut w = Where::default();
    ringside_kit::scope::push(&mut w, scope, "l.owner_id", "l.team_id");
    if let Some(status) = filter.status {
        w.push("l.status = {}", status.as_str());
    }
    if let Some(owner) = &filter.owner_id {
        w.push("l.owner_id = {}", owner.clone());
    }
    let rows = fetch_named(conn, "leads", "l", w, filter.query.as_deref(), page).await?;
    let mut leads = rows.iter().map(lead_from_row).collect::<Result<Vec<_>>>()?;
    complete_leads(conn, &mut leads).await?;
    Ok(leads)
}
