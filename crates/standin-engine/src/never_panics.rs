//! The stand-in's SQL front end reads whatever a client sends: any text gets a statement or
//! an error (as taosd answers a syntax error), never a panic or an endless loop.

use proptest::prelude::*;
use tdibt_testkit::mutated;

use crate::lexer::tokenize;
use crate::parser::parse;

/// Statements of every shape the parser knows, mutated byte by byte below.
const SAMPLES: &[&str] = &[
    "CREATE DATABASE IF NOT EXISTS `d b` PRECISION 'us' WAL_RETENTION_PERIOD 3600 VGROUPS 2",
    "CREATE STABLE d.st (ts TIMESTAMP, v INT, s VARCHAR(16), n NCHAR(8), g GEOMETRY(64), \
     x DECIMAL(10,2)) TAGS (t1 INT, t2 NCHAR(4), j JSON)",
    "INSERT INTO d.t1 USING d.st TAGS (1, '温', '{\"k\":1}') VALUES (1700000000000, 1, 'a', 'b', \
     'POINT(1 2)', 1.25) (NOW + 1s, NULL, NULL, NULL, NULL, NULL) d.t2 (ts, v) VALUES ('2026-12-03 10:00:00.000', -5)",
    "SELECT tbname, _wstart, COUNT(*), LAST(v) FROM d.st WHERE ts >= '2026-01-01T00:00:00Z' \
     AND ts < 1700000000000 AND v IS NOT NULL AND tbname IN ('t1', 't2') PARTITION BY tbname \
     ORDER BY ts DESC LIMIT 10 OFFSET 2",
    "DELETE FROM d.t1 WHERE ts >= 1700000000000 AND ts <= 1700000003600000",
    "ALTER STABLE d.st MODIFY COLUMN s VARCHAR(32)",
    "ALTER TABLE d.t1 SET TAG t1 = 3, t2 = 'x'",
    "CREATE TOPIC IF NOT EXISTS tp WITH META AS DATABASE d",
    "SHOW CREATE DATABASE d",
    "SHOW d.STABLES",
    "DESCRIBE d.t1",
    "SELECT * FROM information_schema.ins_tags WHERE db_name = 'd' AND table_name = 't1'",
];

#[test]
fn every_sample_parses() {
    // Mutations of statements the parser takes reach deep into it; a sample it refused
    // would only exercise the first tokens.
    for sql in SAMPLES {
        assert!(parse(sql).is_ok(), "{sql}: {:?}", parse(sql).err());
    }
}

fn mutated_sample() -> impl Strategy<Value = String> {
    (0..SAMPLES.len()).prop_flat_map(|i| {
        mutated(SAMPLES[i].as_bytes().to_vec())
            .prop_map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn mutated_statements(sql in mutated_sample()) {
        let _ = tokenize(&sql);
        let _ = parse(&sql);
    }

    #[test]
    fn arbitrary_text(sql in ".{0,200}") {
        let _ = parse(&sql);
    }

    #[test]
    fn arbitrary_token_soup(words in proptest::collection::vec(
        prop_oneof![
            Just("SELECT"), Just("FROM"), Just("WHERE"), Just("("), Just(")"), Just(","),
            Just("'"), Just("`"), Just("AND"), Just("OR"), Just("NOT"), Just("IN"), Just("IS"),
            Just("NULL"), Just("INSERT"), Just("INTO"), Just("VALUES"), Just("USING"),
            Just("TAGS"), Just("CREATE"), Just("TABLE"), Just("ALTER"), Just("-"), Just("+"),
            Just("1"), Just("1.5e"), Just("now"), Just("1h"), Just("*"), Just("."), Just("t"),
            Just(";"), Just("INTERVAL"), Just("LIMIT"), Just("?"), Just("\""), Just("\\"),
        ],
        0..40,
    )) {
        let _ = parse(&words.join(" "));
    }
}

/// Raw meta requests of every kind, mutated below: `tmq_write_raw` decodes whatever a
/// client sends (a raw meta is opaque bytes to it).
fn raw_meta_samples() -> Vec<crate::raw_meta::RawMeta> {
    use crate::raw_meta::*;
    use crate::value::{Cell, ColDef, ColType};
    let cols = [
        ColDef::new("ts", ColType::Timestamp, 8),
        ColDef::new("v", ColType::NChar, 4),
    ];
    let tags = [
        ColDef::new("t", ColType::Int, 4),
        ColDef::new("j", ColType::VarChar, 9),
    ];
    let values = [Cell::Int(3), Cell::Str("x".into())];
    let bound = ["t".to_string(), "j".to_string()];
    let child = create_table_req(&NewTable::Child {
        name: "c",
        stable: "st",
        tag_defs: &tags,
        values: &values,
        bound: &bound,
        columns: 2,
    });
    vec![
        stable(raw_type::CREATE_STB, "st", &cols, &tags),
        drop_stable("st"),
        create_tables(&[child]),
        drop_tables(&["a".to_string()]),
        delete("st", "ts", 1, 2),
        alter_table("c", &TableAlter::Tags(vec![(&tags[0], 3, &values[0])])),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn mutated_raw_metas(
        (ty, bytes) in (0..6usize).prop_flat_map(|i| {
            let m = raw_meta_samples().swap_remove(i);
            (Just(m.ty), mutated(m.bytes))
        })
    ) {
        let _ = crate::raw_apply::decode(ty, &bytes);
    }
}
