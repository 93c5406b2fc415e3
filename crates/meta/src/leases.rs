//! Leases: work that one instance of several does at a time (evaluating alert rules and
//! delivering their notifications) belongs to whoever holds its lease. A holder renews it
//! before it expires; once it has expired, anyone may take it.

use crate::{Meta, MetaError, params};

impl Meta {
    /// Takes or renews lease `name` for `holder` until `now_ms + ttl_ms`: true when
    /// `holder` has it now, false when another holder's lease has not expired.
    pub fn take_lease(
        &self,
        name: &str,
        holder: &str,
        now_ms: i64,
        ttl_ms: i64,
    ) -> Result<bool, MetaError> {
        let changed = self.write(|q| {
            // One statement on both databases: the row changes only when it is ours or has
            // expired, and the number of rows changed says which.
            q.execute(
                "INSERT INTO leases (name, holder, expires_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
                 WHERE leases.holder = excluded.holder OR leases.expires_at <= ?4",
                params![name, holder, now_ms + ttl_ms, now_ms],
            )
        })?;
        Ok(changed == 1)
    }

    /// Gives lease `name` up if `holder` has it, so another instance takes it at once.
    pub fn release_lease(&self, name: &str, holder: &str) -> Result<(), MetaError> {
        self.write(|q| {
            q.execute(
                "DELETE FROM leases WHERE name = ?1 AND holder = ?2",
                params![name, holder],
            )
        })?;
        Ok(())
    }

    /// Who holds lease `name` and until when (ms), expired or not.
    pub fn lease(&self, name: &str) -> Result<Option<(String, i64)>, MetaError> {
        self.read(|q| {
            q.query_opt(
                "SELECT holder, expires_at FROM leases WHERE name = ?1",
                params![name],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::tests::open;

    #[test]
    fn one_holder_at_a_time_until_it_expires_or_is_released() {
        let (_dir, meta) = open();
        assert!(meta.take_lease("alerts", "a", 1_000, 500).unwrap());
        assert!(
            !meta.take_lease("alerts", "b", 1_200, 500).unwrap(),
            "a holds it"
        );
        assert!(
            meta.take_lease("alerts", "a", 1_400, 500).unwrap(),
            "a renews"
        );
        assert_eq!(meta.lease("alerts").unwrap(), Some(("a".into(), 1_900)));
        assert!(!meta.take_lease("alerts", "b", 1_899, 500).unwrap());
        assert!(
            meta.take_lease("alerts", "b", 1_900, 500).unwrap(),
            "expired: b takes it"
        );
        assert!(!meta.take_lease("alerts", "a", 2_000, 500).unwrap());
        assert!(
            meta.take_lease("other", "a", 2_000, 500).unwrap(),
            "leases are by name"
        );
        meta.release_lease("alerts", "a").unwrap();
        assert_eq!(
            meta.lease("alerts").unwrap(),
            Some(("b".into(), 2_400)),
            "not a's to give"
        );
        meta.release_lease("alerts", "b").unwrap();
        assert_eq!(meta.lease("alerts").unwrap(), None);
        assert!(
            meta.take_lease("alerts", "a", 2_100, 500).unwrap(),
            "released: a takes it"
        );
    }
}
