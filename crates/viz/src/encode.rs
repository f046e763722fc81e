//! Camera images compressed before they reach the recording: raw they are
//! ~210 kB a frame triple, 244 MB for the 44 s figure-eight.
//!
//! - RGB: JPEG (quality [`JPEG_QUALITY`]), a few kB a frame.
//! - Depth: 16-bit PNG in millimetres (lossless at the camera's noise,
//!   read back by rerun as a depth image with `meter = 1000`, so it still
//!   back-projects into the 3D view). Zero is "no return", as in rerun.
//! - Infrared: 8-bit inferno-colormapped JPEG over a fixed span
//!   ([`IR_SPAN_K`]). Values are lost (hover shows colours, not kelvin), but
//!   16-bit centi-kelvin PNG costs as much as depth again (the sensor noise
//!   fills the low bits) and the picture is what a viewer reads; the fixed
//!   span keeps frames comparable, unlike a per-frame stretch.

use image::codecs::png::{CompressionType, FilterType, PngEncoder};
use image::{ExtendedColorType, ImageEncoder};

/// JPEG quality of RGB and infrared frames (1-100).
pub const JPEG_QUALITY: u8 = 80;
/// Infrared span mapped onto the colormap, K: 0 to 100 degC (hotter
/// saturates: a 600 K fire is as bright as boiling water).
pub const IR_SPAN_K: (f32, f32) = (273.15, 373.15);
/// Depth units per metre of the encoded depth (millimetres).
pub const DEPTH_UNITS_PER_M: f32 = 1000.0;

/// JPEG bytes of a row-major RGB8 image (`rgb.len() == 3 w h`, checked by
/// the caller). `jpeg-encoder` (AVX2 where the CPU has it, chroma at half
/// resolution below quality 90): image's encoder was a tenth of the
/// flagship's CPU with its recording, on a machine the loop shares.
pub fn jpeg_rgb(rgb: &[u8], w: u32, h: u32) -> Result<Vec<u8>, String> {
    let (Ok(w16), Ok(h16)) = (u16::try_from(w), u16::try_from(h)) else {
        return Err(format!(
            "JPEG encoding failed: {w}x{h} exceeds 65535 pixels a side"
        ));
    };
    let mut out = Vec::with_capacity(rgb.len() / 8);
    jpeg_encoder::Encoder::new(&mut out, JPEG_QUALITY)
        .encode(rgb, w16, h16, jpeg_encoder::ColorType::Rgb)
        .map_err(|e| format!("JPEG encoding failed: {e}"))?;
    Ok(out)
}

/// Depth in metres to millimetres; no return (not finite, not positive, or
/// beyond 65.5 m) is 0.
pub fn depth_mm(depth_m: f32) -> u16 {
    // `round(mm)` is in 1..=65535 exactly when mm is in [0.5, 65535.5).
    let mm = depth_m * DEPTH_UNITS_PER_M;
    if (0.5..f32::from(u16::MAX) + 0.5).contains(&mm) {
        round_non_negative(mm) as u16
    } else {
        0
    }
}

/// `x.round() as u32` for `0 <= x < 2^24`, inline: the target has no
/// rounding instruction without SSE4.1, and the libm calls (one per depth
/// pixel, three per infrared one) were most of the recorder's per-pixel
/// work. Exact: `x - trunc(x)` is representable in that range.
fn round_non_negative(x: f32) -> u32 {
    let t = x as u32;
    if x - t as f32 >= 0.5 {
        t + 1
    } else {
        t
    }
}

/// 16-bit greyscale PNG bytes of a depth image in millimetres.
pub fn png_depth_mm(depth_m: &[f32], w: u32, h: u32) -> Result<Vec<u8>, String> {
    // Written in place: growing the buffer a pixel at a time cost a
    // capacity check each.
    let mut bytes = vec![0_u8; 2 * depth_m.len()];
    for (out, d) in bytes.chunks_exact_mut(2).zip(depth_m) {
        out.copy_from_slice(&depth_mm(*d).to_ne_bytes());
    }
    let mut out = Vec::with_capacity(bytes.len() / 2);
    PngEncoder::new_with_quality(&mut out, CompressionType::Fast, FilterType::Adaptive)
        .write_image(&bytes, w, h, ExtendedColorType::L16)
        .map_err(|e| format!("PNG encoding failed: {e}"))?;
    Ok(out)
}

/// JPEG bytes of an infrared image in kelvin, colormapped over [`IR_SPAN_K`].
pub fn jpeg_infrared(kelvin: &[f32], w: u32, h: u32) -> Result<Vec<u8>, String> {
    let (lo, hi) = IR_SPAN_K;
    // Sized first and written in place: collecting a `flat_map`, or
    // extending a pixel at a time, grows or checks the buffer as it goes
    // (a third of this function's time on the recorder thread).
    let mut rgb = vec![0_u8; 3 * kelvin.len()];
    for (out, k) in rgb.chunks_exact_mut(3).zip(kelvin) {
        let s = ((k - lo) / (hi - lo)).clamp(0.0, 1.0);
        // NaN (no reading) is the coldest colour.
        out.copy_from_slice(&inferno(if s.is_nan() { 0.0 } else { s }));
    }
    jpeg_rgb(&rgb, w, h)
}

/// The inferno colormap (matplotlib's), by linear interpolation between
/// nine samples: black through purple and orange to pale yellow.
pub fn inferno(s: f32) -> [u8; 3] {
    const LAST: usize = INFERNO_STOPS.len() - 1;
    let x = s.clamp(0.0, 1.0) * LAST as f32;
    // Truncation is the floor of a value >= 0 (NaN gives 0, as before).
    let i = (x as usize).min(LAST - 1);
    let f = x - i as f32;
    let (a, b) = (INFERNO_STOPS[i], INFERNO_STOPS[i + 1]);
    std::array::from_fn(|c| round_non_negative(a[c] + f * (b[c] - a[c])) as u8)
}

/// Matplotlib's inferno at nine evenly spaced points.
const INFERNO_STOPS: [[f32; 3]; 9] = [
    [0.0, 0.0, 4.0],
    [31.0, 12.0, 72.0],
    [85.0, 15.0, 109.0],
    [136.0, 34.0, 106.0],
    [186.0, 54.0, 85.0],
    [227.0, 89.0, 51.0],
    [249.0, 140.0, 10.0],
    [249.0, 201.0, 50.0],
    [252.0, 255.0, 164.0],
];

#[cfg(test)]
mod tests {
    use super::*;

    /// The inline rounding is `f32::round` on the values it meets: depths
    /// in millimetres and colormap channels, halves and their neighbours.
    #[test]
    fn inline_rounding_matches_the_standard_one() {
        for i in 0..200_000u32 {
            let base = i as f32 * 0.25;
            for x in [
                base,
                f32::from_bits(base.to_bits() + 1),
                f32::from_bits(base.to_bits().saturating_sub(1)),
            ] {
                assert_eq!(round_non_negative(x), x.round() as u32, "{x}");
            }
        }
        for k in 0..2000 {
            let s = k as f32 / 1999.0;
            let reference = {
                let x = s * 8.0;
                let i = (x.floor() as usize).min(7);
                let f = x - i as f32;
                let (a, b) = (INFERNO_STOPS[i], INFERNO_STOPS[i + 1]);
                std::array::from_fn::<u8, 3, _>(|c| (a[c] + f * (b[c] - a[c])).round() as u8)
            };
            assert_eq!(inferno(s), reference, "{s}");
        }
        for d in [
            -1.0,
            0.0,
            0.0004,
            0.0005,
            0.0015,
            1.2345,
            65.535,
            65.5355,
            f32::NAN,
        ] {
            let mm = (d * DEPTH_UNITS_PER_M).round();
            let want = if (1.0..=65535.0).contains(&mm) {
                mm as u16
            } else {
                0
            };
            assert_eq!(depth_mm(d), want, "{d}");
        }
    }

    #[test]
    fn depth_round_trips_to_the_millimetre_and_marks_no_return() {
        assert_eq!(depth_mm(2.5004), 2500);
        assert_eq!(depth_mm(0.0), 0);
        assert_eq!(depth_mm(f32::NAN), 0);
        assert_eq!(depth_mm(f32::INFINITY), 0);
        assert_eq!(depth_mm(-1.0), 0);
        assert_eq!(depth_mm(70.0), 0);
        let depth = [1.0_f32, 2.0, 3.0, f32::NAN, 19.999, 0.2];
        let png = png_depth_mm(&depth, 3, 2).unwrap();
        let decoded = image::load_from_memory(&png).unwrap().into_luma16();
        let mm: Vec<u16> = decoded.pixels().map(|p| p.0[0]).collect();
        assert_eq!(mm, [1000, 2000, 3000, 0, 19999, 200]);
    }

    #[test]
    fn infrared_frames_are_the_colormap_of_every_pixel_in_order() {
        let kelvin: Vec<f32> = (0..48)
            .map(|i| {
                if i == 5 {
                    f32::NAN
                } else {
                    250.0 + 9.0 * i as f32
                }
            })
            .collect();
        let rgb: Vec<u8> = kelvin
            .iter()
            .flat_map(|k| {
                let s = ((k - IR_SPAN_K.0) / (IR_SPAN_K.1 - IR_SPAN_K.0)).clamp(0.0, 1.0);
                inferno(if s.is_nan() { 0.0 } else { s })
            })
            .collect();
        assert_eq!(
            jpeg_infrared(&kelvin, 8, 6).unwrap(),
            jpeg_rgb(&rgb, 8, 6).unwrap()
        );
    }

    /// The frames decode to the picture they were made of: a smooth
    /// gradient comes back within a few levels, a size that JPEG cannot
    /// carry is an error.
    #[test]
    fn rgb_frames_decode_to_their_picture() {
        let (w, h) = (160_u32, 120_u32);
        let rgb: Vec<u8> = (0..w * h)
            .flat_map(|i| {
                let (x, y) = (i % w, i / w);
                [(x * 255 / w) as u8, (y * 255 / h) as u8, 128]
            })
            .collect();
        let jpeg = jpeg_rgb(&rgb, w, h).unwrap();
        assert!(jpeg.len() < rgb.len() / 4, "{} bytes", jpeg.len());
        let decoded = image::load_from_memory(&jpeg).unwrap().into_rgb8();
        assert_eq!(decoded.dimensions(), (w, h));
        let worst = decoded
            .as_raw()
            .iter()
            .zip(&rgb)
            .map(|(a, b)| a.abs_diff(*b))
            .max()
            .unwrap();
        assert!(worst <= 8, "largest error {worst} levels");
        assert!(jpeg_rgb(&[0; 3 * 70_000], 70_000, 1).is_err());
    }

    #[test]
    fn infrared_maps_cold_to_dark_and_hot_to_bright() {
        assert_eq!(inferno(0.0), [0, 0, 4]);
        assert_eq!(inferno(1.0), [252, 255, 164]);
        let luminance = |c: [u8; 3]| c.iter().map(|v| u32::from(*v)).sum::<u32>();
        let mut last = 0;
        for i in 0..=20 {
            let l = luminance(inferno(i as f32 / 20.0));
            assert!(l >= last, "inferno must brighten monotonically");
            last = l;
        }
        let jpeg = jpeg_infrared(&[250.0, 293.0, 330.0, 600.0], 2, 2).unwrap();
        assert_eq!(&jpeg[..2], &[0xFF, 0xD8], "a JPEG start-of-image marker");
    }
}
