//! What the read caches' tests share: a named session record, and polling a store until a
//! session reads as expected within the bound a change elsewhere may still be served.

use sesame_store::SessionBackend;
use std::collections::HashMap;
use std::time::{Duration, Instant};
use time::OffsetDateTime;
use tower_sessions::SessionStore;
use tower_sessions::session::{Id, Record};

/// How long a change elsewhere may still be served: the bound for the whole path.
pub const BOUND: Duration = Duration::from_secs(2);

/// A session whose `name` tells which write a read saw, valid for an hour.
pub fn record(name: &str) -> Record {
    Record {
        id: Id::default(),
        data: HashMap::from([("name".to_owned(), serde_json::json!(name))]),
        expiry_date: OffsetDateTime::now_utc() + time::Duration::hours(1),
    }
}

/// Polls `store` until session `id` reads as `expected` (its name, or gone), returning how long
/// that took; fails past `bound`.
pub async fn until_reads_within(
    store: &SessionBackend,
    id: &Id,
    expected: Option<&str>,
    bound: Duration,
) -> Duration {
    let started = Instant::now();
    loop {
        let name = store
            .load(id)
            .await
            .unwrap()
            .map(|record| record.data["name"].clone());
        if name.as_ref().and_then(|name| name.as_str()) == expected {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < bound,
            "still read {name:?} after {:?}, expected {expected:?}",
            started.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// [`until_reads_within`] the [`BOUND`].
pub async fn until_reads(store: &SessionBackend, id: &Id, expected: Option<&str>) -> Duration {
    until_reads_within(store, id, expected, BOUND).await
}
