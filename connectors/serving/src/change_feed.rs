//! Change feeds: each changed stock position or settlement row as a numbered event, per tenant,
//! live and for a while after — what the change streams (`/v1/stock/stream`,
//! `/v1/settlements/stream`) serve.
//!
//! Numbers increase by one per change across tenants. They start at the wall-clock millisecond
//! the index was made times 2^20, so a number from an earlier run of the process is below every
//! number of this one (unless that run made over a million changes per millisecond it lasted): a
//! client resuming with it gets a reset instead of wrong changes.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, OnceLock};

use flowmart_schemas::Id;
use tokio::sync::broadcast;

/// How many changes a feed keeps in all (across tenants) for clients that resume.
const RETAINED: usize = 65_536;
/// How many changes a session may fall behind its tenant's live feed before it is told it lagged.
const LIVE_BUFFER: usize = 1_024;

/// One change of an item.
#[derive(Debug)]
pub struct FeedEvent<T> {
    /// Its number.
    pub sequence: u64,
    /// The item as it now stands, and the pipeline time it stands at.
    pub item: T,
    /// The change encoded once for every subscriber (by the first that sends it; the API keeps
    /// its whole Server-Sent Event here).
    pub encoded: OnceLock<bytes::Bytes>,
}

/// The changes after a number, or that they are no longer kept.
#[derive(Debug)]
pub enum FeedMissed<T> {
    /// The tenant's changes after the one asked for, in order, as many as were asked for (perhaps
    /// none).
    Changes(Vec<Arc<FeedEvent<T>>>),
    /// Not kept (or never made by this process): the client must start again from the items.
    Gone,
}

/// One kind of item's changes, every tenant.
pub struct ChangeFeed<T> {
    state: Mutex<FeedState<T>>,
}

struct FeedState<T> {
    /// The number the next change gets.
    next: u64,
    /// The first number of this feed.
    first: u64,
    tenants: HashMap<Id, TenantFeed<T>>,
    /// The tenant of each change kept, oldest first: the oldest change overall goes first.
    order: VecDeque<Id>,
}

/// One tenant's part of a feed: kept for every tenant that ever had a change or a subscriber
/// (a floor and an empty queue when idle), its live channel only while it has subscribers.
struct TenantFeed<T> {
    /// Every change of the tenant numbered above this is in `kept`.
    floor: u64,
    kept: VecDeque<Arc<FeedEvent<T>>>,
    live: Option<broadcast::Sender<Arc<FeedEvent<T>>>>,
}

impl<T> TenantFeed<T> {
    fn new(floor: u64) -> Self {
        TenantFeed { floor, kept: VecDeque::new(), live: None }
    }
}

impl<T: Send + Sync + 'static> ChangeFeed<T> {
    /// An empty feed whose numbers start at `first`.
    pub(crate) fn starting_at(first: u64) -> Self {
        ChangeFeed {
            state: Mutex::new(FeedState { next: first, first, tenants: HashMap::new(), order: VecDeque::new() }),
        }
    }

    /// An empty feed numbered from now (see the module's doc).
    pub(crate) fn new() -> Self {
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |since| since.as_millis() as u64);
        ChangeFeed::starting_at(now_ms << 20)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, FeedState<T>> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Numbers, keeps and sends the tenant's changed items, in order.
    pub(crate) fn publish(&self, tenant_id: &Id, items: impl IntoIterator<Item = T>) {
        let mut state = self.lock();
        let first = state.first;
        for item in items {
            let sequence = state.next;
            state.next += 1;
            let event = Arc::new(FeedEvent { sequence, item, encoded: OnceLock::new() });
            let tenant = state.tenants.entry(tenant_id.clone()).or_insert_with(|| TenantFeed::new(first - 1));
            tenant.kept.push_back(Arc::clone(&event));
            if let Some(live) = &tenant.live
                && live.send(event).is_err()
            {
                // Its last subscriber has gone: free the channel's buffer.
                tenant.live = None;
            }
            state.order.push_back(tenant_id.clone());
        }
        while state.order.len() > RETAINED {
            let Some(oldest) = state.order.pop_front() else { break };
            if let Some(tenant) = state.tenants.get_mut(&oldest)
                && let Some(evicted) = tenant.kept.pop_front()
            {
                tenant.floor = evicted.sequence;
                // A channel nobody listens to any more goes (with the events it still holds).
                if tenant.live.as_ref().is_some_and(|live| live.receiver_count() == 0) {
                    tenant.live = None;
                }
            }
        }
    }

    /// The tenant's changes from now on; and the number of the last change made before them
    /// (every item read after this call reflects at least the changes up to it).
    pub fn subscribe(&self, tenant_id: &Id) -> (broadcast::Receiver<Arc<FeedEvent<T>>>, u64) {
        let mut state = self.lock();
        let floor = state.next - 1;
        let first = state.first;
        let tenant = state.tenants.entry(tenant_id.clone()).or_insert_with(|| TenantFeed::new(first - 1));
        let live = tenant.live.get_or_insert_with(|| broadcast::channel(LIVE_BUFFER).0);
        (live.subscribe(), floor)
    }

    /// The tenant's first `limit` changes numbered after `after`. Subscribe first, then ask: a
    /// change may then come both ways, never neither.
    pub fn after(&self, tenant_id: &Id, after: u64, limit: usize) -> FeedMissed<T> {
        let state = self.lock();
        if after < state.first.saturating_sub(1) || after >= state.next {
            return FeedMissed::Gone;
        }
        match state.tenants.get(tenant_id) {
            Some(tenant) if after < tenant.floor => FeedMissed::Gone,
            Some(tenant) => {
                let from = tenant.kept.partition_point(|event| event.sequence <= after);
                FeedMissed::Changes(tenant.kept.range(from..).take(limit).cloned().collect())
            }
            // A tenant that never had a change missed none.
            None => FeedMissed::Changes(Vec::new()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{ChangeFeed, FeedMissed, RETAINED};
    use flowmart_schemas::Id;

    fn numbers(missed: FeedMissed<u32>) -> Option<Vec<u64>> {
        match missed {
            FeedMissed::Changes(changes) => Some(changes.iter().map(|event| event.sequence).collect()),
            FeedMissed::Gone => None,
        }
    }

    #[test]
    fn a_tenant_resumes_after_its_last_change_while_kept_and_is_told_when_not() {
        let feed = ChangeFeed::starting_at(1_000);
        let (acme, globex) = (Id::from("acme"), Id::from("globex"));
        assert_eq!(numbers(feed.after(&acme, 999, usize::MAX)), Some(vec![]), "nothing made yet, nothing missed");
        feed.publish(&acme, [1, 2]);
        feed.publish(&globex, [3]);
        feed.publish(&acme, [4]);
        assert_eq!(numbers(feed.after(&acme, 999, usize::MAX)), Some(vec![1_000, 1_001, 1_003]));
        assert_eq!(numbers(feed.after(&acme, 1_001, usize::MAX)), Some(vec![1_003]));
        assert_eq!(numbers(feed.after(&acme, 999, 2)), Some(vec![1_000, 1_001]), "a page: the first two");
        assert_eq!(numbers(feed.after(&globex, 1_001, usize::MAX)), Some(vec![1_002]));
        assert_eq!(
            numbers(feed.after(&acme, 998, usize::MAX)),
            None,
            "before this feed's first number: an earlier run's"
        );
        assert_eq!(numbers(feed.after(&acme, 1_004, usize::MAX)), None, "a number not given yet");
        let (mut live, floor) = feed.subscribe(&acme);
        assert_eq!(floor, 1_003, "the last change made before subscribing");
        feed.publish(&acme, [5]);
        assert_eq!(live.try_recv().unwrap().sequence, 1_004);
    }

    #[test]
    fn the_oldest_changes_overall_go_first_and_their_tenants_cannot_resume_from_before_them() {
        let feed = ChangeFeed::starting_at(1);
        let (acme, globex) = (Id::from("acme"), Id::from("globex"));
        feed.publish(&globex, [0]);
        feed.publish(&acme, 0..=RETAINED as u32);
        // Two over the window: 1 (globex's) was evicted, then 2 (acme's first).
        let count = |missed: FeedMissed<u32>| numbers(missed).map(|kept| kept.len());
        assert_eq!(count(feed.after(&globex, 0, usize::MAX)), None);
        assert_eq!(count(feed.after(&globex, 1, usize::MAX)), Some(0), "nothing of globex's after its evicted change");
        assert_eq!(count(feed.after(&acme, 1, usize::MAX)), None, "acme's change 2 is gone");
        let kept = numbers(feed.after(&acme, 2, usize::MAX)).unwrap();
        assert_eq!((kept.len(), kept[0], kept[kept.len() - 1]), (RETAINED, 3, RETAINED as u64 + 2));
        let never_seen = Id::from("initech");
        assert_eq!(count(feed.after(&never_seen, 5, usize::MAX)), Some(0), "a tenant without a change missed none");
    }
}
