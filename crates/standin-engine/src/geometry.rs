//! GEOMETRY values: TDengine takes 2D POINT, LINESTRING and POLYGON as WKT in SQL and stores
//! their well-known binary (docs 01-data-type.md, whose size table — POINT 21 bytes,
//! LINESTRING 9 + 16 per point, POLYGON 13 + 16 per point of one ring — is little-endian
//! WKB as GEOS writes it on x86).

/// WKB of a WKT text, or None when the text is not one of the three 2D forms.
pub fn wkt_to_wkb(text: &str) -> Option<Vec<u8>> {
    let text = text.trim();
    let open = text.find('(')?;
    let kind = text[..open].trim().to_ascii_uppercase();
    let body = text[open..].trim();
    let mut out = vec![1u8]; // little-endian
    match kind.as_str() {
        "POINT" => {
            let points = point_list(strip_parens(body)?)?;
            let [(x, y)] = points.as_slice() else {
                return None;
            };
            out.extend_from_slice(&1u32.to_le_bytes());
            push_point(&mut out, *x, *y);
        }
        "LINESTRING" => {
            let points = point_list(strip_parens(body)?)?;
            if points.len() < 2 {
                return None;
            }
            out.extend_from_slice(&2u32.to_le_bytes());
            push_points(&mut out, &points)?;
        }
        "POLYGON" => {
            let rings = ring_list(strip_parens(body)?)?;
            out.extend_from_slice(&3u32.to_le_bytes());
            out.extend_from_slice(&u32::try_from(rings.len()).ok()?.to_le_bytes());
            for ring in rings {
                if ring.len() < 3 || ring.first() != ring.last() {
                    return None;
                }
                push_points(&mut out, &ring)?;
            }
        }
        _ => return None,
    }
    Some(out)
}

fn strip_parens(s: &str) -> Option<&str> {
    s.trim().strip_prefix('(')?.strip_suffix(')')
}

fn point_list(s: &str) -> Option<Vec<(f64, f64)>> {
    s.split(',')
        .map(|p| {
            let mut it = p.split_whitespace();
            let x = it.next()?.parse().ok()?;
            let y = it.next()?.parse().ok()?;
            it.next().is_none().then_some((x, y))
        })
        .collect()
}

/// `(x y, ...), (x y, ...)` into rings.
fn ring_list(s: &str) -> Option<Vec<Vec<(f64, f64)>>> {
    let mut rings = Vec::new();
    let mut rest = s.trim();
    while !rest.is_empty() {
        let body = rest.strip_prefix('(')?;
        let end = body.find(')')?;
        rings.push(point_list(&body[..end])?);
        rest = body[end + 1..].trim_start();
        if let Some(r) = rest.strip_prefix(',') {
            rest = r.trim_start();
        } else if !rest.is_empty() {
            return None;
        }
    }
    (!rings.is_empty()).then_some(rings)
}

fn push_points(out: &mut Vec<u8>, points: &[(f64, f64)]) -> Option<()> {
    out.extend_from_slice(&u32::try_from(points.len()).ok()?.to_le_bytes());
    for (x, y) in points {
        push_point(out, *x, *y);
    }
    Some(())
}

fn push_point(out: &mut Vec<u8>, x: f64, y: f64) {
    out.extend_from_slice(&x.to_le_bytes());
    out.extend_from_slice(&y.to_le_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_match_the_docs_table() {
        // TDengine docs 01-data-type.md: POINT 21, LINESTRING 9 + 2*16, POLYGON 13 + 3*16.
        assert_eq!(wkt_to_wkb("POINT(1.0 1.0)").unwrap().len(), 21);
        assert_eq!(
            wkt_to_wkb("LINESTRING(1.0 1.0, 2.0 2.0)").unwrap().len(),
            9 + 2 * 16
        );
        assert_eq!(
            wkt_to_wkb("POLYGON((1.0 1.0, 2.0 2.0, 1.0 1.0))")
                .unwrap()
                .len(),
            13 + 3 * 16
        );
        let p = wkt_to_wkb("point (3 -4.5)").unwrap();
        assert_eq!(&p[..5], &[1, 1, 0, 0, 0]);
        assert_eq!(f64::from_le_bytes(p[13..21].try_into().unwrap()), -4.5);
    }

    #[test]
    fn refuses_other_shapes() {
        for bad in [
            "POINT(1)",
            "POINT(1 2, 3 4)",
            "LINESTRING(1 1)",
            "POLYGON((0 0, 1 1, 2 0))",
            "MULTIPOINT((1 1))",
            "hello",
        ] {
            assert!(wkt_to_wkb(bad).is_none(), "{bad}");
        }
    }
}
