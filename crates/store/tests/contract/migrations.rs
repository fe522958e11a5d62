//! Opening a migrated database again applies nothing twice and keeps the data.

use switchyard_core::store::LogQuery;

use crate::backend::Storage;
use crate::governance::full_key;
use crate::log::full_record;

pub async fn reopening_migrates_nothing_twice(storage: Storage) {
    let mut first = storage.open().await;
    let key = first.gov.create_key(full_key("key_1", "sy-aaaaaaaa")).await.unwrap();
    first.log.insert(&[full_record("r1", 1)]).unwrap();

    // A second instance on the same database, while the first still has it open.
    let mut second = storage.open().await;
    assert_eq!(second.gov.list_keys().await.unwrap(), vec![key.clone()]);
    assert_eq!(second.log.query(&LogQuery { limit: 10, ..LogQuery::default() }).unwrap(), vec![full_record("r1", 1)]);
    // The change sequence carries on where it was.
    let next = second.gov.create_key(full_key("key_2", "sy-bbbbbbbb")).await.unwrap();
    assert!(next.seq > key.seq);
    drop((first, second));

    let third = storage.open().await;
    assert_eq!(third.gov.list_keys().await.unwrap().len(), 2);
}
