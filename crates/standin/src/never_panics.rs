//! The stand-in reads raw blocks a client sends (`write_raw_block`): whatever bytes arrive,
//! it answers an error or a block, never panics, never allocates what the header claims
//! before the bytes are there.

use proptest::prelude::*;
use taos_standin_engine::{Cell, ColType, Column, Precision, ResultSet};
use tdibt_testkit::mutated;

use crate::block::{decode, encode};

/// A block of every kind of column: fixed, variable, NULLs.
fn sample() -> Vec<u8> {
    let columns = vec![
        Column {
            name: "ts".into(),
            ty: ColType::Timestamp,
            len: 8,
        },
        Column {
            name: "v".into(),
            ty: ColType::Int,
            len: 4,
        },
        Column {
            name: "s".into(),
            ty: ColType::VarChar,
            len: 16,
        },
        Column {
            name: "n".into(),
            ty: ColType::NChar,
            len: 8,
        },
    ];
    let rows = (0..5i64)
        .map(|i| {
            vec![
                Cell::Int(1_700_000_000_000 + i),
                if i == 2 { Cell::Null } else { Cell::Int(i * 7) },
                Cell::Str(format!("row{i}")),
                if i == 3 {
                    Cell::Null
                } else {
                    Cell::Str("温度".into())
                },
            ]
        })
        .collect();
    encode(&ResultSet {
        columns,
        precision: Precision::Millis,
        rows,
    })
}

#[test]
fn the_sample_decodes() {
    let back = decode(&sample()).unwrap();
    assert_eq!(back.rows.len(), 5);
    assert_eq!(back.rows[2][1], Cell::Null);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn mutated_raw_blocks(bytes in mutated(sample())) {
        let _ = decode(&bytes);
    }

    #[test]
    fn arbitrary_raw_blocks(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode(&bytes);
    }
}
