//! Building dynamic SQL safely: a WHERE clause assembled from optional filters with
//! numbered placeholders and typed arguments, LIKE patterns, and placeholder lists.
//! Column and table names come from code; every value goes through a placeholder.

use sqlx::any::AnyArguments;
use sqlx::query::Query;

use crate::{Any, AssertSqlSafe};

/// A value bound to a placeholder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Arg {
    Text(String),
    Int(i64),
}

impl From<String> for Arg {
    fn from(v: String) -> Self {
        Arg::Text(v)
    }
}

impl From<&str> for Arg {
    fn from(v: &str) -> Self {
        Arg::Text(v.to_owned())
    }
}

impl From<&String> for Arg {
    fn from(v: &String) -> Self {
        Arg::Text(v.clone())
    }
}

impl From<i64> for Arg {
    fn from(v: i64) -> Self {
        Arg::Int(v)
    }
}

/// A WHERE clause assembled from optional filters, with numbered placeholders.
#[derive(Debug, Default, Clone)]
pub struct Where {
    clauses: Vec<String>,
    args: Vec<Arg>,
    /// A pattern was pushed: the query is planned with its values each time.
    fresh: bool,
}

impl Where {
    /// Adds `clause` with a `LIKE` pattern (every `{}` stands for it). The query is
    /// then planned with the pattern each time rather than prepared once: the best
    /// plan depends on it (a rare pattern from a trigram index, a common one by
    /// walking the newest rows), and PostgreSQL's generic plan for a cached
    /// statement picks one for all — a walk of a million rows for a rare name.
    /// Never run the same SQL text as a prepared query elsewhere: sqlx would reuse
    /// that cached statement even for an unprepared call.
    pub fn push_pattern(&mut self, clause: &str, pattern: String) {
        self.fresh = true;
        self.push(clause, pattern);
    }

    /// Adds `clause`, in which every `{}` stands for the same next placeholder.
    pub fn push(&mut self, clause: &str, arg: impl Into<Arg>) {
        let n = self.bind(arg);
        self.clauses.push(clause.replace("{}", &n));
    }

    /// Adds a clause without arguments.
    pub fn push_plain(&mut self, clause: &str) {
        self.clauses.push(clause.to_owned());
    }

    /// Adds an argument without a clause and returns its placeholder (`$n`), for
    /// clauses with more than one argument.
    pub fn bind(&mut self, arg: impl Into<Arg>) -> String {
        self.args.push(arg.into());
        format!("${}", self.args.len())
    }

    /// The conditions joined with AND (`TRUE` when there are none).
    pub fn sql(&self) -> String {
        if self.clauses.is_empty() {
            "TRUE".to_owned()
        } else {
            self.clauses.join(" AND ")
        }
    }

    /// `sql` as a query with every argument bound in order.
    pub fn query(&self, sql: String) -> Query<'static, Any, AnyArguments> {
        bind_all(sqlx::query(AssertSqlSafe(sql)), &self.args).persistent(!self.fresh)
    }
}

/// Binds `args` to `query` in order.
pub fn bind_all<'q>(
    mut query: Query<'q, Any, AnyArguments>,
    args: &[Arg],
) -> Query<'q, Any, AnyArguments> {
    for arg in args {
        query = match arg {
            Arg::Text(v) => query.bind(v.clone()),
            Arg::Int(v) => query.bind(*v),
        };
    }
    query
}

/// `%text%` for `LIKE … ESCAPE '\'`, lower-cased, with LIKE's wildcards escaped.
pub fn like_pattern(text: &str) -> String {
    let escaped = text
        .to_lowercase()
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

/// `$start, $start+1, …` for `n` values.
pub fn placeholders(start: usize, n: usize) -> String {
    (start..start + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clauses_number_their_placeholders_in_order() {
        let mut w = Where::default();
        w.push_plain("deleted_at IS NULL");
        w.push("owner_id = {}", "u-1");
        w.push("(a = {} OR b = {})", 7);
        let p = w.bind("x");
        assert_eq!(p, "$3");
        assert_eq!(
            w.sql(),
            "deleted_at IS NULL AND owner_id = $1 AND (a = $2 OR b = $2)"
        );
        assert_eq!(
            w.args,
            vec![Arg::Text("u-1".into()), Arg::Int(7), Arg::Text("x".into())]
        );
    }

    #[test]
    fn like_patterns_escape_wildcards() {
        assert_eq!(like_pattern("A_b%c\\"), "%a\\_b\\%c\\\\%");
        assert_eq!(placeholders(3, 2), "$3, $4");
        assert_eq!(Where::default().sql(), "TRUE");
    }
}
