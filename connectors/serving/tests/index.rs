//! The serving index: resuming subscribers and waiting for a fresh snapshot.

use flowmart_runtime::{ChangeBatch, Sink, SourceProgress};
use flowmart_serving::{Missed, ServingIndex, Snapshot};
use flowmart_testkit::{alert_batch, reorder_alert};

fn sequences(missed: Missed) -> Option<Vec<u64>> {
    match missed {
        Missed::Changes(changes) => Some(changes.iter().map(|event| event.sequence).collect()),
        Missed::Gone { .. } => None,
    }
}

#[test]
fn resuming_subscribers_get_what_is_kept_after_their_last_change_or_are_told_it_is_gone() {
    // A recovered index: 100 changes happened before this process; none of them is kept.
    let restored = Snapshot::restored(5, SourceProgress::default(), 100, [], [], [], []);
    let (index, mut writer) = ServingIndex::starting_from(restored, [], u64::MAX);
    assert_eq!(sequences(index.alerts_after(100)), Some(vec![]), "up to date");
    assert_eq!(sequences(index.alerts_after(40)), None, "41..=100 are not kept");
    let alerts = ["a", "b", "c"].map(|sku| reorder_alert("acme", sku)).to_vec();
    let batch = ChangeBatch { lower: 5, upper: 9, ..alert_batch(100, alerts) };
    writer.apply(&batch).unwrap();
    assert_eq!(sequences(index.alerts_after(100)), Some(vec![101, 102, 103]));
    assert_eq!(sequences(index.alerts_after(102)), Some(vec![103]));
    assert_eq!(sequences(index.alerts_after(99)), None, "100 is not kept");
    assert_eq!(index.snapshot().alerts_published, 103);
}

#[tokio::test(flavor = "current_thread")]
async fn a_fresh_snapshot_is_waited_for_and_given_up_on_in_time() {
    let (index, mut writer) = ServingIndex::new(u64::MAX);
    let waiting = {
        let index = index.clone();
        tokio::spawn(async move { index.fresh(20, std::time::Duration::from_secs(5)).await })
    };
    tokio::task::yield_now().await;
    writer.apply(&ChangeBatch { lower: 0, upper: 25, ..ChangeBatch::default() }).unwrap();
    assert_eq!(waiting.await.unwrap().map(|snapshot| snapshot.as_of), Some(25));
    assert!(index.fresh(1_000, std::time::Duration::from_millis(50)).await.is_none());
}
