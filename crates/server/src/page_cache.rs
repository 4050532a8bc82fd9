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
//! Most of a page is the same for everyone: the layout, the template's markup, a provider's
//! claims such as `iss`. A kept page is cut into lines; those found in the shared text
//! ([`SharedText`]) are kept as references into its one copy, the rest as the page's own bytes,
//! so a page per active user costs about a third of the page. Serving it is copying the pieces
//! back together, about a quarter of a microsecond.

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

/// Lines many logged-in pages have, kept once, for kept pages to refer to: the layout's, in its
/// order (so a page refers to it in a few long runs), and those two pages rendered one after the
/// other had in common (a provider's `iss` and `aud` claims, an avatar's colour, a login
/// minute). Lines are only ever added, so a kept page's references stay good, and only up to
/// [`SHARED_LIMIT`] bytes.
struct SharedText {
    /// The lines one after another.
    text: String,
    /// Where each line starts in `text` (the first place, for a line it holds twice).
    starts: HashMap<String, u32>,
    /// A line did not fit: nothing more is learned.
    full: bool,
}

/// Bytes of shared text at most. The layout is about 2 KB, and the lines worth sharing are met
/// within the first pages; the rest of the room fills with the likes of login minutes.
const SHARED_LIMIT: usize = 32 * 1024;

/// The pieces a page is cut into for sharing: its lines, each with its newline.
fn pieces_of(page: &str) -> impl Iterator<Item = &str> {
    page.split_inclusive('\n')
}

impl SharedText {
    /// Adds the lines of `page` that `earlier` has too, while there is room: each one not held
    /// yet, or, `in_order`, every one, so that the text holds them in the page's order.
    fn learn(&mut self, earlier: &str, page: &str, in_order: bool) {
        if self.full {
            return;
        }
        let earlier: HashSet<&str> = pieces_of(earlier).collect();
        for piece in pieces_of(page) {
            if self.text.len() + piece.len() > SHARED_LIMIT {
                self.full = true;
                return;
            }
            let known = self.starts.contains_key(piece);
            if earlier.contains(piece)
                && (in_order || !known)
                && let Ok(start) = u32::try_from(self.text.len())
            {
                if !known {
                    self.starts.insert(piece.to_owned(), start);
                }
                self.text.push_str(piece);
            }
        }
    }

    /// Where `piece` is in the text: right at `next` if the text goes on with it there (so a
    /// run continues), else where it was first held.
    fn find(&self, piece: &str, next: Option<u32>) -> Option<u32> {
        if let Some(next) = next
            && self.text.get(next as usize..)?.starts_with(piece)
        {
            return Some(next);
        }
        self.starts.get(piece).copied()
    }
}

/// A page as runs, in order: of the shared text, or of its own bytes.
struct CompactPage {
    runs: Box<[Run]>,
    /// The page's own bytes, its own runs one after another.
    own: Box<[u8]>,
    len: usize,
}

/// `len` bytes: of the shared text from `start`, or, when `start` is [`Run::OWN`], the page's
/// own next ones. Eight bytes, as a kept page has a few dozen.
#[derive(Debug, PartialEq, Clone, Copy)]
struct Run {
    start: u32,
    len: u32,
}

impl Run {
    /// Never a start in the shared text, which is far shorter.
    const OWN: u32 = u32::MAX;
}

impl CompactPage {
    fn new(page: &str, shared: &SharedText) -> Self {
        let mut runs: Vec<Run> = Vec::new();
        let mut own = Vec::new();
        for piece in pieces_of(page) {
            // A piece is at most the page's size; a page over 4 GB would not be kept whole.
            let len = u32::try_from(piece.len()).unwrap_or(u32::MAX);
            let next = runs
                .last()
                .filter(|run| run.start != Run::OWN)
                .map(|run| run.start.saturating_add(run.len));
            let start = match shared.find(piece, next) {
                Some(start) => start,
                None => {
                    own.extend_from_slice(piece.as_bytes());
                    Run::OWN
                }
            };
            match runs.last_mut() {
                // Own bytes follow each other; shared pieces continue a run if they did in the
                // shared text.
                Some(run)
                    if (start == Run::OWN && run.start == Run::OWN)
                        || (start != Run::OWN
                            && run.start != Run::OWN
                            && run.start.saturating_add(run.len) == start) =>
                {
                    run.len = run.len.saturating_add(len);
                }
                _ => runs.push(Run { start, len }),
            }
        }
        Self {
            runs: runs.into_boxed_slice(),
            own: own.into_boxed_slice(),
            len: page.len(),
        }
    }

    /// The page, copied back together.
    fn assemble(&self, shared: &SharedText) -> Vec<u8> {
        let mut page = Vec::with_capacity(self.len);
        let mut own = self.own.iter().as_slice();
        for &Run { start, len } in &self.runs {
            let len = len as usize;
            // Always in range: the runs were cut from these very bytes.
            if start == Run::OWN {
                if let Some((run, rest)) = own.split_at_checked(len) {
                    page.extend_from_slice(run);
                    own = rest;
                }
            } else if let Some(run) = shared.text.as_bytes().get(start as usize..)
                && let Some(run) = run.get(..len)
            {
                page.extend_from_slice(run);
            }
        }
        page
    }
}

struct Entry {
    access_token_expires_at: Option<i64>,
    page: CompactPage,
}

/// Kept pages, by login, with the shared text they refer to.
pub(crate) struct PageCache {
    // One lock for the pages and the text they share: a page view holds it for a map lookup
    // and a copy of about 3 KB.
    inner: Mutex<Inner>,
}

struct Inner {
    shared: SharedText,
    pages: HashMap<[u8; 32], Entry>,
    /// The page rendered last, to find what the next one has in common with it.
    last_rendered: String,
}

impl PageCache {
    /// An empty cache whose pages share what `samples` have in common, one with the next
    /// (made-up users who differ in everything a user can: what they share is the layout).
    pub(crate) fn new(samples: &[String]) -> Self {
        let mut shared = SharedText {
            text: String::new(),
            starts: HashMap::new(),
            full: false,
        };
        for pair in samples.windows(2) {
            shared.learn(&pair[0], &pair[1], true);
        }
        Self {
            inner: Mutex::new(Inner {
                shared,
                pages: HashMap::new(),
                last_rendered: samples.last().cloned().unwrap_or_default(),
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A poisoned lock only means another view panicked mid-insert: the map is still a map.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// How many bytes of its own the page kept for `fingerprint` holds.
    #[cfg(test)]
    pub(crate) fn own_len(&self, fingerprint: &[u8; 32]) -> Option<usize> {
        let inner = self.lock();
        inner
            .pages
            .get(fingerprint)
            .map(|entry| entry.page.own.len())
    }

    /// The page for `key`, rendered by `render` unless kept from an earlier view of this login.
    pub(crate) fn page<E>(
        &self,
        key: PageKey,
        render: impl FnOnce() -> Result<String, E>,
    ) -> Result<Bytes, E> {
        {
            let inner = self.lock();
            if let Some(entry) = inner.pages.get(&key.fingerprint)
                && entry.access_token_expires_at == key.access_token_expires_at
            {
                return Ok(Bytes::from(entry.page.assemble(&inner.shared)));
            }
        }
        // Rendered outside the lock: two racing views of a new login only repeat the work.
        let page = render()?;
        let mut inner = self.lock();
        let Inner {
            shared,
            pages,
            last_rendered,
        } = &mut *inner;
        shared.learn(last_rendered, &page, false);
        let entry = Entry {
            access_token_expires_at: key.access_token_expires_at,
            page: CompactPage::new(&page, shared),
        };
        if pages.len() >= CAPACITY
            && !pages.contains_key(&key.fingerprint)
            && let Some(evicted) = pages.keys().next().copied()
        {
            pages.remove(&evicted);
        }
        pages.insert(key.fingerprint, entry);
        last_rendered.clone_from(&page);
        Ok(Bytes::from(page))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::convert::Infallible;

    fn shared() -> SharedText {
        let mut shared = SharedText {
            text: String::new(),
            starts: HashMap::new(),
            full: false,
        };
        shared.learn(
            "<html>\n<p>Ann</p>\n<p>layout</p>\n</div>\n<p>more</p>\n</div>\n<p>Ann</p>\n</html>\n",
            "<html>\n<p>Bob</p>\n<p>layout</p>\n</div>\n<p>more</p>\n</div>\n<p>Bob</p>\n</html>\n",
            true,
        );
        shared
    }

    #[test]
    fn a_page_keeps_only_its_own_lines_and_comes_back_whole() {
        let shared = shared();
        let layout = "<html>\n<p>layout</p>\n</div>\n<p>more</p>\n</div>\n</html>\n";
        assert_eq!(shared.text, layout, "the layout in order, repeats and all");
        let page =
            "<html>\n<p>Cy</p>\n<p>layout</p>\n</div>\n<p>more</p>\n</div>\n<p>Cy</p>\n</html>\n";
        for page in [
            page,
            "<p>more</p>\n</div>\n<p>layout</p>\n</div>\nno newline at the end",
            "",
            "\n\n<html>\n",
        ] {
            let compact = CompactPage::new(page, &shared);
            assert_eq!(String::from_utf8(compact.assemble(&shared)).unwrap(), page);
        }
        let compact = CompactPage::new(page, &shared);
        assert_eq!(&*compact.own, b"<p>Cy</p>\n<p>Cy</p>\n");
        let own = Run {
            start: Run::OWN,
            len: 10,
        };
        let shared = |start, len| Run { start, len };
        assert_eq!(
            &*compact.runs,
            [shared(0, 7), own, shared(7, 40), own, shared(47, 8)],
            "the second `</div>` continues the run"
        );
    }

    #[test]
    fn what_two_pages_in_a_row_share_is_learned_up_to_the_limit() {
        let cache = PageCache::new(&["<p>A</p>\n<hr>\n".into(), "<p>B</p>\n<hr>\n".into()]);
        let key = |login| PageKey {
            fingerprint: [login; 32],
            access_token_expires_at: None,
        };
        let render = |page: &str| Ok::<_, Infallible>(page.to_owned());
        cache
            .page(key(1), || render("<p>Cy</p>\n<hr>\niss: idp\n"))
            .unwrap();
        assert_eq!(
            cache.own_len(&[1; 32]),
            Some(19),
            "nothing to learn from yet"
        );
        cache
            .page(key(2), || render("<p>Di</p>\n<hr>\niss: idp\n"))
            .unwrap();
        assert_eq!(
            cache.own_len(&[2; 32]),
            Some(10),
            "`iss: idp` is shared now"
        );
        assert_eq!(
            cache.page(key(1), || render("")).unwrap(),
            "<p>Cy</p>\n<hr>\niss: idp\n"
        );
        // A full room takes no more, and pages still come back whole.
        let long = format!("{}\n", "x".repeat(SHARED_LIMIT));
        cache.page(key(3), || render(&long)).unwrap();
        cache.page(key(4), || render(&long)).unwrap();
        assert_eq!(cache.own_len(&[4; 32]), Some(long.len()));
        assert_eq!(cache.page(key(4), || render("")).unwrap(), long);
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
        let cache = PageCache::new(&[]);
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
