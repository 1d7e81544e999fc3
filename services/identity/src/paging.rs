//! Keyset pagination: a page request, the opaque cursor of the last item seen (a sort
//! key and the id that breaks ties) and a page cut from a look-ahead fetch.

/// A page request: how many, and the cursor of the last item seen.
#[derive(Debug, Clone, Default)]
pub struct Page {
    pub size: i64,
    pub after: Option<Cursor>,
}

/// A position in an ordered list: a sort key and the id that breaks ties.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub at: i64,
    pub id: String,
}

impl Cursor {
    /// The position of `id` in a list ordered by id alone (ids are UUIDv7, so that is
    /// the order they were made in); its sort key is not used.
    pub fn by_id(id: &str) -> Cursor {
        Cursor {
            at: 0,
            id: id.to_owned(),
        }
    }

    pub fn token(&self) -> String {
        format!("{}.{}", self.at, self.id)
    }

    pub fn parse(token: &str) -> Option<Cursor> {
        let (at, id) = token.split_once('.')?;
        let at = at.parse().ok()?;
        (!id.is_empty() && id.len() <= crate::fields::MAX_ID).then(|| Cursor {
            at,
            id: id.to_owned(),
        })
    }
}

/// One page of items and the cursor of the next, if there is more.
#[derive(Debug, Clone)]
pub struct Paged<T> {
    pub items: Vec<T>,
    pub next: Option<Cursor>,
}

impl<T> Paged<T> {
    /// Cuts the look-ahead row off `items` (fetched with `size + 1`).
    pub fn from_lookahead(mut items: Vec<T>, size: i64, cursor: impl Fn(&T) -> Cursor) -> Self {
        let size = usize::try_from(size).unwrap_or(0);
        let next = if items.len() > size {
            items.truncate(size);
            items.last().map(cursor)
        } else {
            None
        };
        Paged { items, next }
    }
}

/// A page request from a wire page size and token.
pub fn page(size: i32, token: &str, default: i64, max: i64) -> Result<Page, crate::Invalid> {
    let size = crate::page_size(size, default, max)?;
    let after = match token.trim() {
        "" => None,
        t => Some(
            Cursor::parse(t)
                .ok_or_else(|| crate::Invalid::new("page_token", "not a page token"))?,
        ),
    };
    Ok(Page { size, after })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_garbage() {
        let c = Cursor {
            at: -5,
            id: "0193-x".into(),
        };
        assert_eq!(Cursor::parse(&c.token()), Some(c));
        assert_eq!(Cursor::parse("garbage"), None);
        assert_eq!(Cursor::parse("12."), None);
        assert!(page(10, "nope", 50, 500).is_err());
        assert_eq!(page(0, "", 50, 500).unwrap().size, 50);
    }

    #[test]
    fn a_lookahead_row_means_another_page() {
        let paged = Paged::from_lookahead(vec![1, 2, 3], 2, |n| Cursor {
            at: *n,
            id: n.to_string(),
        });
        assert_eq!(paged.items, vec![1, 2]);
        assert_eq!(paged.next.map(|c| c.at), Some(2));
    }
}
