//! The logged-in home page, rendered once per login rather than on every page view, and kept
//! small.
//!
//! Everything the page shows is fixed when the user logs in (the claims, the name, the avatar,
//! when they signed in), except when the access token expires, which moves with each refresh.
//! Yet rendering the template, pretty-printing and escaping the claims and formatting the times
//! cost about 8 µs a view, most of what a logged-in page view cost beyond reading the session.
//! So the finished page is kept here, keyed by the login's fingerprint (the SHA-256 of the user
//! as the session stores it), and served again while the same login and token expiry come back.
//! Another login, other claims or a refresh are a miss, never someone else's page or a stale one.
//!
//! Most of a page is the same for everyone: the layout and the template's markup. A kept page
//! stores those lines as references into one copy of them ([`SharedLines`]) and only its own
//! lines as bytes, about a third of the page, so that a page per active user costs about 1 KB
//! rather than 3 KB. Serving it is copying the pieces back together, well under a microsecond.

use bytes::Bytes;
use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

/// Logins whose page is kept at most, about 1 KB each: a page for each of 10,000 users active at
/// once, and at most about 17 MB. When full, one page makes room for the next, which costs a
/// view less than tracking recency would.
const CAPACITY: usize = 16_384;

/// What must match for a kept page to be this view's page.
#[derive(PartialEq, Eq, Clone, Copy)]
pub(crate) struct PageKey {
    /// The login: [`sesame_axum::CurrentUser::fingerprint`].
    pub(crate) fingerprint: [u8; 32],
    /// Shown on the page, and moved by every refresh.
    pub(crate) access_token_expires_at: Option<i64>,
}

/// Lines that every logged-in page has, kept once, for kept pages to refer to.
pub(crate) struct SharedLines {
    /// The lines, each with its newline, one after another.
    text: String,
    /// Where each line starts in `text`.
    starts: HashMap<String, u32>,
}

impl SharedLines {
    /// The lines found in every one of `pages` (which should differ in everything a user can
    /// change: what they share is the layout).
    pub(crate) fn common_to(pages: &[String]) -> Self {
        let line_sets: Vec<HashSet<&str>> = pages
            .iter()
            .map(|page| page.split_inclusive('\n').collect())
            .collect();
        let mut shared = Self {
            text: String::new(),
            starts: HashMap::new(),
        };
        for line in pages
            .first()
            .into_iter()
            .flat_map(|p| p.split_inclusive('\n'))
        {
            if line_sets.iter().all(|lines| lines.contains(line))
                && !shared.starts.contains_key(line)
                && let Ok(start) = u32::try_from(shared.text.len())
            {
                shared.starts.insert(line.to_owned(), start);
                shared.text.push_str(line);
            }
        }
        shared
    }
}

/// A page as pieces: runs of shared lines and runs of its own bytes, in order.
struct CompactPage {
    pieces: Box<[Piece]>,
    /// The page's own bytes, the [`Piece::Own`] runs one after another.
    own: Box<[u8]>,
    len: usize,
}

#[derive(Debug, PartialEq)]
enum Piece {
    /// `len` bytes of [`SharedLines::text`] from `start`.
    Shared { start: u32, len: u32 },
    /// The next `len` bytes of the page's own.
    Own { len: u32 },
}

impl CompactPage {
    fn new(page: &str, shared: &SharedLines) -> Self {
        let mut pieces: Vec<Piece> = Vec::new();
        let mut own = Vec::new();
        for line in page.split_inclusive('\n') {
            // A line is at most the page's size; a page over 4 GB would be kept as its own.
            let len = u32::try_from(line.len()).unwrap_or(u32::MAX);
            match (shared.starts.get(line), pieces.last_mut()) {
                (
                    Some(&start),
                    Some(Piece::Shared {
                        start: at,
                        len: run,
                    }),
                ) if *at + *run == start => {
                    *run += len;
                }
                (Some(&start), _) => pieces.push(Piece::Shared { start, len }),
                (None, Some(Piece::Own { len: run })) => {
                    *run = run.saturating_add(len);
                    own.extend_from_slice(line.as_bytes());
                }
                (None, _) => {
                    pieces.push(Piece::Own { len });
                    own.extend_from_slice(line.as_bytes());
                }
            }
        }
        Self {
            pieces: pieces.into_boxed_slice(),
            own: own.into_boxed_slice(),
            len: page.len(),
        }
    }

    /// The page, copied back together.
    fn assemble(&self, shared: &SharedLines) -> Vec<u8> {
        let mut page = Vec::with_capacity(self.len);
        let mut own = self.own.iter().as_slice();
        for piece in &self.pieces {
            match *piece {
                // Both always in range: the pieces were cut from these very lines and bytes.
                Piece::Shared { start, len } => {
                    let (start, len) = (start as usize, len as usize);
                    if let Some(run) = shared.text.as_bytes().get(start..start + len) {
                        page.extend_from_slice(run);
                    }
                }
                Piece::Own { len } => {
                    if let Some((run, rest)) = own.split_at_checked(len as usize) {
                        page.extend_from_slice(run);
                        own = rest;
                    }
                }
            }
        }
        page
    }
}

struct Entry {
    access_token_expires_at: Option<i64>,
    page: CompactPage,
}

/// Kept pages, by login, with the shared lines they refer to.
pub(crate) struct PageCache {
    shared: SharedLines,
    pages: Mutex<HashMap<[u8; 32], Entry>>,
}

impl PageCache {
    /// An empty cache whose pages share the lines common to `samples` (see
    /// [`SharedLines::common_to`]).
    pub(crate) fn new(samples: &[String]) -> Self {
        Self {
            shared: SharedLines::common_to(samples),
            pages: Mutex::new(HashMap::new()),
        }
    }

    /// How many bytes of its own the page kept for `fingerprint` holds.
    #[cfg(test)]
    pub(crate) fn own_len(&self, fingerprint: &[u8; 32]) -> Option<usize> {
        let pages = self.pages.lock().ok()?;
        pages.get(fingerprint).map(|entry| entry.page.own.len())
    }

    /// The page for `key`, rendered by `render` unless kept from an earlier view of this login.
    pub(crate) fn page<E>(
        &self,
        key: PageKey,
        render: impl FnOnce() -> Result<String, E>,
    ) -> Result<Bytes, E> {
        // A poisoned lock only means another view panicked mid-insert: the map is still a map.
        let lock = || {
            self.pages
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
        };
        if let Some(entry) = lock().get(&key.fingerprint)
            && entry.access_token_expires_at == key.access_token_expires_at
        {
            return Ok(Bytes::from(entry.page.assemble(&self.shared)));
        }
        // Rendered outside the lock: two racing views of a new login only repeat the work.
        let page = render()?;
        let entry = Entry {
            access_token_expires_at: key.access_token_expires_at,
            page: CompactPage::new(&page, &self.shared),
        };
        let mut pages = lock();
        if pages.len() >= CAPACITY
            && !pages.contains_key(&key.fingerprint)
            && let Some(evicted) = pages.keys().next().copied()
        {
            pages.remove(&evicted);
        }
        pages.insert(key.fingerprint, entry);
        Ok(Bytes::from(page))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::convert::Infallible;

    fn shared() -> SharedLines {
        SharedLines::common_to(&[
            "<html>\n<h1>Ann</h1>\n<p>layout</p>\n<p>more</p>\n<p>Ann</p>\n</html>\n".into(),
            "<html>\n<h1>Bob</h1>\n<p>layout</p>\n<p>more</p>\n<p>Bob</p>\n</html>\n".into(),
        ])
    }

    #[test]
    fn a_page_keeps_only_its_own_lines_and_comes_back_whole() {
        let shared = shared();
        assert_eq!(shared.text, "<html>\n<p>layout</p>\n<p>more</p>\n</html>\n");
        for page in [
            "<html>\n<h1>Cy</h1>\n<p>layout</p>\n<p>more</p>\n<p>Cy</p>\n</html>\n",
            "<p>more</p>\n<p>layout</p>\nno newline at the end",
            "",
            "\n\n<html>\n",
        ] {
            let compact = CompactPage::new(page, &shared);
            assert_eq!(String::from_utf8(compact.assemble(&shared)).unwrap(), page);
        }
        let compact = CompactPage::new(
            "<html>\n<h1>Cy</h1>\n<p>layout</p>\n<p>more</p>\n<p>Cy</p>\n</html>\n",
            &shared,
        );
        assert_eq!(&*compact.own, b"<h1>Cy</h1>\n<p>Cy</p>\n");
        assert_eq!(
            &*compact.pieces,
            [
                Piece::Shared { start: 0, len: 7 },
                Piece::Own { len: 12 },
                Piece::Shared { start: 7, len: 26 },
                Piece::Own { len: 10 },
                Piece::Shared { start: 33, len: 8 },
            ]
        );
    }

    /// Renders "`tag` `expires`" through `cache`, counting renders.
    fn page(
        cache: &PageCache,
        login: u8,
        expires: Option<i64>,
        tag: &str,
        renders: &mut u32,
    ) -> Bytes {
        let key = PageKey {
            fingerprint: [login; 32],
            access_token_expires_at: expires,
        };
        cache
            .page(key, || {
                *renders += 1;
                Ok::<_, Infallible>(format!("<html>\n{tag} {expires:?}\n</html>\n"))
            })
            .unwrap()
    }

    #[test]
    fn another_login_or_a_refresh_are_a_miss() {
        let cache = PageCache::new(&["<html>\nA\n</html>\n".into(), "<html>\nB\n</html>\n".into()]);
        let mut renders = 0;
        let first = page(&cache, 1, Some(1), "Alice", &mut renders);
        assert_eq!(page(&cache, 1, Some(1), "changed?", &mut renders), first);
        assert_eq!(renders, 1, "the second view is kept");
        assert_eq!(first, "<html>\nAlice Some(1)\n</html>\n");
        assert_eq!(
            page(&cache, 2, Some(1), "Alicia", &mut renders),
            "<html>\nAlicia Some(1)\n</html>\n"
        );
        assert_eq!(
            page(&cache, 2, Some(2), "Alicia", &mut renders),
            "<html>\nAlicia Some(2)\n</html>\n"
        );
        assert_eq!(
            page(&cache, 2, None, "Alicia", &mut renders),
            "<html>\nAlicia None\n</html>\n"
        );
        assert_eq!(renders, 4);
    }
}
