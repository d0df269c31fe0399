//! Annotation geometry for PostGIS: Well-Known Binary in level-0 pixels, SRID 0.
//!
//! Rows carry their geometry to PostgreSQL as WKB, the binary form of PostGIS's
//! `geometry` type itself, so a binary COPY or a parameter needs no parsing on the server
//! (parsing GeoJSON there was most of an import's time). SRID 0 says "no coordinate
//! system": pixels are not longitudes, and `ST_MakeEnvelope(x0, y0, x1, y1)` without an
//! SRID compares with them directly.

use super::{StoreError, StoreResult};
use crate::annotations::geometry::{Geometry, Pt, Ring, SCALE};
use crate::annotations::model::Annotation;
use postgres::types::{IsNull, ToSql, Type, to_sql_checked};

/// A geometry as WKB, for a `geometry` column or parameter.
#[derive(Debug)]
pub(crate) struct Wkb(Vec<u8>);

impl Wkb {
    /// The geometry of a record body.
    pub(crate) fn of_record(body: &[u8]) -> StoreResult<Self> {
        let geometry = Annotation::decode_geometry_only(body)
            .map_err(|e| StoreError::new(format!("a damaged record: {e}"), None))?;
        Ok(Self::of(&geometry))
    }

    /// `geometry` in pixels (centipixels divided by [`SCALE`]).
    pub(crate) fn of(geometry: &Geometry) -> Self {
        let shape = in_pixels(geometry);
        let mut bytes = Vec::with_capacity(wkb::writer::geometry_wkb_size(&shape));
        wkb::writer::write_geometry(
            &mut bytes,
            &shape,
            &wkb::writer::WriteOptions {
                endianness: wkb::Endianness::LittleEndian,
            },
        )
        .expect("writing into a Vec cannot fail");
        Self(bytes)
    }
}

fn in_pixels(geometry: &Geometry) -> geo::Geometry<f64> {
    let point = |p: &Pt| geo::Coord {
        x: f64::from(p[0]) / SCALE,
        y: f64::from(p[1]) / SCALE,
    };
    let line = |points: &[Pt]| geo::LineString(points.iter().map(point).collect());
    let polygon = |rings: &[Ring]| match rings {
        [exterior, holes @ ..] => {
            geo::Polygon::new(line(exterior), holes.iter().map(|h| line(h)).collect())
        }
        [] => geo::Polygon::new(geo::LineString(Vec::new()), Vec::new()),
    };
    match geometry {
        Geometry::Point(p) => geo::Geometry::Point(geo::Point(point(p))),
        Geometry::MultiPoint(points) => geo::Geometry::MultiPoint(geo::MultiPoint(
            points.iter().map(|p| geo::Point(point(p))).collect(),
        )),
        Geometry::LineString(points) => geo::Geometry::LineString(line(points)),
        Geometry::Polygon(rings) => geo::Geometry::Polygon(polygon(rings)),
        Geometry::MultiPolygon(polygons) => geo::Geometry::MultiPolygon(geo::MultiPolygon(
            polygons.iter().map(|p| polygon(p)).collect(),
        )),
    }
}

impl ToSql for Wkb {
    fn to_sql(
        &self,
        _: &Type,
        out: &mut bytes::BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        out.extend_from_slice(&self.0);
        Ok(IsNull::No)
    }

    /// PostGIS's type, whatever its OID in this database.
    fn accepts(ty: &Type) -> bool {
        ty.name() == "geometry"
    }

    to_sql_checked!();
}

/// PostGIS's `geometry` type as this connection knows it (its OID differs per database),
/// for the column list of a binary COPY.
pub(crate) fn geometry_type(client: &mut impl postgres::GenericClient) -> StoreResult<Type> {
    let statement = client.prepare("SELECT NULL::geometry")?;
    Ok(statement.columns()[0].type_().clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_polygon_is_little_endian_wkb_in_pixels() {
        let square: Ring = vec![[0, 0], [150, 0], [150, 250], [0, 0]];
        let Wkb(bytes) = Wkb::of(&Geometry::Polygon(vec![square]));
        // Byte order 1 (little-endian), type 3 (Polygon), one ring of four points.
        assert_eq!(&bytes[..13], &[1, 3, 0, 0, 0, 1, 0, 0, 0, 4, 0, 0, 0]);
        let xy = |i: usize| {
            f64::from_le_bytes(bytes[13 + 8 * i..21 + 8 * i].try_into().expect("8 bytes"))
        };
        assert_eq!((xy(2), xy(3)), (1.5, 0.0));
        assert_eq!((xy(4), xy(5)), (1.5, 2.5));
        assert_eq!(bytes.len(), 13 + 4 * 16);
    }
}
