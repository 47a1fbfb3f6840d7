use serde::{Deserialize, Serialize};

/// A WGS 84 position. Finite, latitude in [-90, 90], longitude in [-180, 180];
/// exactly 0 is a valid coordinate (the Gulf of Guinea exists).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawCoordinates")]
pub struct Coordinates {
    latitude: f64,
    longitude: f64,
}

#[derive(Deserialize)]
struct RawCoordinates {
    latitude: f64,
    longitude: f64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CoordinatesError {
    #[error("latitude must be a finite number between -90 and 90")]
    Latitude,
    #[error("longitude must be a finite number between -180 and 180")]
    Longitude,
}

impl Coordinates {
    pub fn new(latitude: f64, longitude: f64) -> Result<Self, CoordinatesError> {
        if !latitude.is_finite() || !(-90.0..=90.0).contains(&latitude) {
            return Err(CoordinatesError::Latitude);
        }
        if !longitude.is_finite() || !(-180.0..=180.0).contains(&longitude) {
            return Err(CoordinatesError::Longitude);
        }
        Ok(Self {
            latitude,
            longitude,
        })
    }

    pub fn latitude(&self) -> f64 {
        self.latitude
    }

    pub fn longitude(&self) -> f64 {
        self.longitude
    }

    /// The great-circle distance to `other`, in metres (haversine on a
    /// sphere of the Earth's mean radius: within 0.5 % of the ellipsoid).
    pub fn distance_m(&self, other: &Coordinates) -> f64 {
        let (la1, la2) = (self.latitude.to_radians(), other.latitude.to_radians());
        let dla = la2 - la1;
        let dlo = (other.longitude - self.longitude).to_radians();
        let h = (dla / 2.0).sin().powi(2) + la1.cos() * la2.cos() * (dlo / 2.0).sin().powi(2);
        2.0 * EARTH_RADIUS_M * h.sqrt().min(1.0).asin()
    }
}

/// The Earth's mean radius, in metres.
pub const EARTH_RADIUS_M: f64 = 6_371_008.8;

impl TryFrom<RawCoordinates> for Coordinates {
    type Error = CoordinatesError;
    fn try_from(raw: RawCoordinates) -> Result<Self, Self::Error> {
        Self::new(raw.latitude, raw.longitude)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_are_inclusive_and_zero_is_valid() {
        assert!(Coordinates::new(0.0, 0.0).is_ok());
        assert!(Coordinates::new(90.0, 180.0).is_ok());
        assert!(Coordinates::new(-90.0, -180.0).is_ok());
    }

    #[test]
    fn out_of_range_or_not_finite_is_refused() {
        assert_eq!(
            Coordinates::new(90.0001, 0.0),
            Err(CoordinatesError::Latitude)
        );
        assert_eq!(
            Coordinates::new(f64::NAN, 0.0),
            Err(CoordinatesError::Latitude)
        );
        assert_eq!(
            Coordinates::new(0.0, -180.5),
            Err(CoordinatesError::Longitude)
        );
        assert_eq!(
            Coordinates::new(0.0, f64::INFINITY),
            Err(CoordinatesError::Longitude)
        );
    }
}
