use serde::{Deserialize, Serialize};

/// A row-major image: pixel `(u, v)` is `data[v * width + u]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Image<P> {
    pub width_px: u32,
    pub height_px: u32,
    pub data: Vec<P>,
}

/// Colour image, 8 bits per channel, `[r, g, b]`.
pub type RgbImage = Image<[u8; 3]>;

/// Depth image: per pixel the z coordinate (along the optical axis, not the
/// range along the ray) of the surface seen, in metres. An invalid pixel
/// (nothing within range, below the minimum range, or dropped) is `NaN`;
/// `0.0` is never used as a marker. Test with `is_finite()`.
pub type DepthImage = Image<f32>;

/// Infrared (thermal) image: per pixel the surface temperature seen, in
/// kelvin.
pub type InfraredImage = Image<f32>;

impl<P: Copy> Image<P> {
    /// An image filled with one value.
    pub fn filled(width_px: u32, height_px: u32, value: P) -> Self {
        Self {
            width_px,
            height_px,
            data: vec![value; width_px as usize * height_px as usize],
        }
    }

    /// Pixel `(u, v)`, or `None` outside the image.
    pub fn get(&self, u: u32, v: u32) -> Option<P> {
        if u >= self.width_px || v >= self.height_px {
            return None;
        }
        self.data
            .get(v as usize * self.width_px as usize + u as usize)
            .copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn get_is_row_major_and_bounded() {
        let mut img = DepthImage::filled(4, 3, f32::NAN);
        img.data[2 * 4 + 1] = 2.5;
        assert_eq!(img.get(1, 2), Some(2.5));
        assert_eq!(img.get(4, 0), None);
        assert_eq!(img.get(0, 3), None);
    }
}
