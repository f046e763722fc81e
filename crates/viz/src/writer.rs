//! Turns queued plain data into rerun archetypes on the recorder thread.

use std::sync::atomic::Ordering;

use nalgebra::Point3;
use rerun::components::MediaType;
use rerun::{
    AsComponents, Boxes3D, Color, Ellipsoids3D, EncodedDepthImage, EncodedImage, FillMode,
    LineStrips3D, Pinhole, Points3D, RecordingStream, RecordingStreamResult, Scalars, SeriesLines,
    TextLog,
};

use crate::batch::Rows;
use crate::blueprint;
use crate::body;
use crate::encode;
use crate::paths;
use crate::recorder::{Counters, ImageData, Msg};
use crate::types::{Curve, Level, Obstacle, ObstacleSource, Series, Stamp, When};

const REFERENCE_COLOR: Color = crate::body::rgb(70, 130, 230);
const PREDICTION_COLOR: Color = crate::body::rgb(255, 140, 0);
const ESTIMATE_COLOR: Color = crate::body::rgb(0, 200, 255);
const ROD_COLOR: Color = crate::body::rgb(200, 200, 210);
const SECTIONS_COLOR: Color = crate::body::rgb(0, 200, 255);
const PERCEIVED_SHAPE_COLOR: Color = crate::body::rgb(255, 120, 30);
const TIP_COLOR: Color = crate::body::rgb(240, 60, 60);
const TARGET_COLOR: Color = crate::body::rgb(220, 40, 200);
const LIDAR_COLOR: Color = crate::body::rgb(40, 210, 210);
const TRUE_OBSTACLE_COLOR: Color = crate::body::rgba(120, 170, 120, 255);
const PERCEIVED_OBSTACLE_COLOR: Color = crate::body::rgba(255, 120, 30, 140);

pub(crate) struct Writer<'a> {
    rec: &'a RecordingStream,
    counters: &'a Counters,
    /// Timed rows not yet handed to the stream (see `batch`).
    rows: Rows,
}

impl<'a> Writer<'a> {
    pub(crate) fn new(rec: &'a RecordingStream, counters: &'a Counters) -> Self {
        Self {
            rec,
            counters,
            rows: Rows::new(),
        }
    }

    /// Hands the rows gathered so far to the stream (before any flush of
    /// the stream, and at the end).
    pub(crate) fn hand_over(&mut self) {
        let failed = self.rows.flush(self.rec);
        self.counters.rejected.fetch_add(failed, Ordering::Relaxed);
    }

    /// Hands the rows over if they have waited a tick.
    pub(crate) fn hand_over_if_due(&mut self) {
        if self.rows.due() {
            self.hand_over();
        }
    }

    /// Writes one message. A failure is counted as rejected and reported in
    /// the event log; it never stops the recorder.
    pub(crate) fn write(&mut self, msg: Msg) {
        let stamp = msg_stamp(&msg);
        if let Err(reason) = self.try_write(msg) {
            self.counters.rejected.fetch_add(1, Ordering::Relaxed);
            let event = TextLog::new(format!("recorder rejected data: {reason}"))
                .with_level(Level::Error.as_str());
            // Nothing more to do if even this fails: it is already counted.
            let _ = match stamp {
                Some(stamp) => self.log(When::At(stamp), paths::EVENTS, &event),
                None => self.log(When::Static, paths::EVENTS, &event),
            };
        }
    }

    /// Static data goes to the stream at once; timed rows are gathered.
    fn log<AS: ?Sized + AsComponents>(
        &mut self,
        when: When,
        path: impl Into<rerun::EntityPath>,
        archetype: &AS,
    ) -> RecordingStreamResult<()> {
        match when {
            When::Static => self.rec.log_static(path, archetype),
            When::At(stamp) => {
                self.set_time(stamp);
                self.rows.push(self.rec, path, archetype);
                Ok(())
            }
        }
    }

    fn set_time(&self, stamp: Stamp) {
        // Steps beyond i64::MAX do not occur; saturate rather than wrap.
        let step = i64::try_from(stamp.step).unwrap_or(i64::MAX);
        self.rec.set_time_sequence(paths::STEP, step);
        self.rec
            .set_duration_secs(paths::SIM_TIME, stamp.sim_time_secs);
    }

    fn try_write(&mut self, msg: Msg) -> Result<(), String> {
        let rerun_err = |err: rerun::RecordingStreamError| err.to_string();
        match msg {
            Msg::Robot(kind) => body::log_body(self.rec, &kind).map_err(rerun_err),
            Msg::Pose(stamp, pose) => {
                self.set_time(stamp);
                body::pose_transforms(&pose, |path, transform| {
                    self.rows.push(self.rec, path, transform);
                });
                Ok(())
            }
            Msg::Camera(camera) => {
                let path = paths::camera(&camera.name);
                let [w, h] = camera.resolution_px;
                let pinhole = Pinhole::from_focal_length_and_resolution(
                    [
                        camera.focal_length_px[0] as f32,
                        camera.focal_length_px[1] as f32,
                    ],
                    [w as f32, h as f32],
                )
                .with_principal_point([
                    camera.principal_point_px[0] as f32,
                    camera.principal_point_px[1] as f32,
                ])
                .with_camera_xyz(rerun::components::ViewCoordinates::RDF)
                .with_image_plane_distance(0.3_f32);
                self.rec
                    .log_static(path.as_str(), &body::to_transform(&camera.body_from_camera))
                    .and_then(|()| self.rec.log_static(path.as_str(), &pinhole))
                    .map_err(rerun_err)
            }
            Msg::Image {
                stamp,
                camera,
                resolution_px,
                data,
            } => self.write_image(stamp, &camera, resolution_px, data),
            Msg::Lidar(stamp, points) => self
                .log(
                    stamp.into(),
                    paths::LIDAR,
                    &Points3D::new(f32_points(&points))
                        .with_radii([0.02_f32])
                        .with_colors([LIDAR_COLOR]),
                )
                .map_err(rerun_err),
            Msg::Reference(when, path) => self
                .log(
                    when,
                    paths::REFERENCE,
                    &LineStrips3D::new([f32_points(&path)])
                        .with_radii([0.01_f32])
                        .with_colors([REFERENCE_COLOR]),
                )
                .map_err(rerun_err),
            Msg::Prediction(stamp, positions) => {
                let points = f32_points(&positions);
                self.log(
                    stamp.into(),
                    paths::PREDICTION,
                    &LineStrips3D::new([points.clone()])
                        .with_radii([0.012_f32])
                        .with_colors([PREDICTION_COLOR]),
                )
                .and_then(|()| {
                    self.log(
                        stamp.into(),
                        paths::PREDICTION,
                        &Points3D::new(points)
                            .with_radii([0.025_f32])
                            .with_colors([PREDICTION_COLOR]),
                    )
                })
                .map_err(rerun_err)
            }
            Msg::Targets(when, targets) => {
                let labels = (0..targets.len()).map(|i| format!("target {i}"));
                self.log(
                    when,
                    paths::TARGETS,
                    &Points3D::new(f32_points(&targets))
                        .with_radii([0.08_f32])
                        .with_colors([TARGET_COLOR])
                        .with_labels(labels),
                )
                .map_err(rerun_err)
            }
            Msg::Estimate(stamp, position) => self
                .log(
                    stamp.into(),
                    paths::ESTIMATE,
                    &Points3D::new(f32_points(&[position]))
                        .with_radii([0.06_f32])
                        .with_colors([ESTIMATE_COLOR]),
                )
                .map_err(rerun_err),
            Msg::Curve(stamp, curve, points) => self.write_curve(stamp, curve, &points),
            Msg::Obstacles(when, source, obstacles, labels) => {
                if !labels.is_empty() && labels.len() != obstacles.len() {
                    return Err(format!(
                        "{} labels for {} obstacles",
                        labels.len(),
                        obstacles.len()
                    ));
                }
                self.write_obstacles(when, source, &obstacles, &labels)
                    .map_err(rerun_err)
            }
            Msg::Blueprint(layout) => {
                blueprint::send(self.rec, &layout).map_err(rerun_err)?;
                self.hand_over();
                // The blueprint closes the static scene: batch it out now, so
                // that it precedes every per-step chunk in the file. Not
                // blocking: the loop's first steps must not wait for a disk.
                self.rec
                    .flush_async()
                    .map_err(|err| format!("flushing the static scene: {err}"))
            }
            Msg::SeriesNames(series, names) => {
                let mut lines = SeriesLines::new().with_names(names.iter().cloned());
                if series == Series::Tracking {
                    // A pair per tracked component: actual strong, reference pale.
                    lines = lines.with_colors(tracking_colors(names.len()));
                }
                self.rec
                    .log_static(series.path(), &lines)
                    .map_err(rerun_err)
            }
            Msg::Series(stamp, series, values) => self
                .log(stamp.into(), series.path(), &Scalars::new(values))
                .map_err(rerun_err),
            Msg::Event(stamp, level, text) => self
                .log(
                    stamp.into(),
                    paths::EVENTS,
                    &TextLog::new(text).with_level(level.as_str()),
                )
                .map_err(rerun_err),
            Msg::Flush | Msg::Shutdown => Ok(()),
        }
    }

    fn write_image(
        &mut self,
        stamp: Stamp,
        camera: &str,
        resolution_px: [u32; 2],
        data: ImageData,
    ) -> Result<(), String> {
        let [w, h] = resolution_px;
        let pixels = w as usize * h as usize;
        let path = paths::camera_image(camera);
        let check = |kind: &str, len: usize, per_pixel: usize| {
            if len == pixels * per_pixel {
                Ok(())
            } else {
                Err(format!(
                    "{kind} image from camera {camera:?} has {len} values, expected {w}x{h}x{per_pixel} = {}",
                    pixels * per_pixel
                ))
            }
        };
        // Encoded on this thread, never on the loop's (see `encode`).
        let logged = match data {
            ImageData::Rgb(rgb) => {
                check("RGB", rgb.len(), 3)?;
                let jpeg = encode::jpeg_rgb(&rgb, w, h)?;
                self.log(stamp.into(), path, &jpeg_image(jpeg))
            }
            ImageData::Depth(depth) => {
                check("depth", depth.len(), 1)?;
                let png = encode::png_depth_mm(&depth, w, h)?;
                let image = EncodedDepthImage::new(png)
                    .with_media_type(MediaType::PNG)
                    .with_meter(encode::DEPTH_UNITS_PER_M)
                    .with_colormap(rerun::components::Colormap::Turbo);
                self.log(stamp.into(), path, &image)
            }
            ImageData::Infrared(kelvin) => {
                check("infrared", kelvin.len(), 1)?;
                let jpeg = encode::jpeg_infrared(&kelvin, w, h)?;
                self.log(stamp.into(), path, &jpeg_image(jpeg))
            }
        };
        logged.map_err(|err| err.to_string())
    }

    fn write_obstacles(
        &mut self,
        when: When,
        source: ObstacleSource,
        obstacles: &[Obstacle],
        labels: &[String],
    ) -> RecordingStreamResult<()> {
        let (root, color, fill) = match source {
            ObstacleSource::True => (
                paths::OBSTACLES_TRUE,
                TRUE_OBSTACLE_COLOR,
                FillMode::MajorWireframe,
            ),
            ObstacleSource::Perceived => (
                paths::OBSTACLES_PERCEIVED,
                PERCEIVED_OBSTACLE_COLOR,
                FillMode::Solid,
            ),
        };
        let mut ellipsoids = Shapes::default();
        let mut boxes = Shapes::default();
        for (i, obstacle) in obstacles.iter().enumerate() {
            let label = labels.get(i).cloned();
            match *obstacle {
                Obstacle::Sphere { center, radius_m } => ellipsoids.push(
                    &center,
                    [radius_m as f32; 3],
                    rerun::Quaternion::IDENTITY,
                    label,
                ),
                Obstacle::Ellipsoid {
                    center,
                    half_sizes_m,
                    rotation,
                } => ellipsoids.push(
                    &center,
                    body::f32x3(&half_sizes_m),
                    body::quat(&rotation),
                    label,
                ),
                Obstacle::Box {
                    center,
                    half_sizes_m,
                    rotation,
                } => boxes.push(
                    &center,
                    body::f32x3(&half_sizes_m),
                    body::quat(&rotation),
                    label,
                ),
            }
        }
        // Both entities are always written, so that a shape that disappears
        // from one call to the next is cleared.
        let n = ellipsoids.centers.len();
        self.log(
            when,
            paths::child(root, paths::ELLIPSOIDS),
            &Ellipsoids3D::from_centers_and_half_sizes(ellipsoids.centers, ellipsoids.half_sizes)
                .with_quaternions(ellipsoids.rotations)
                .with_labels(ellipsoids.labels)
                .with_colors(vec![color; n])
                .with_fill_mode(fill),
        )?;
        let n = boxes.centers.len();
        self.log(
            when,
            paths::child(root, paths::BOXES),
            &Boxes3D::from_centers_and_half_sizes(boxes.centers, boxes.half_sizes)
                .with_quaternions(boxes.rotations)
                .with_labels(boxes.labels)
                .with_colors(vec![color; n])
                .with_fill_mode(fill),
        )
    }
}

#[derive(Default)]
struct Shapes {
    centers: Vec<[f32; 3]>,
    half_sizes: Vec<[f32; 3]>,
    rotations: Vec<rerun::Quaternion>,
    labels: Vec<String>,
}

impl Shapes {
    fn push(
        &mut self,
        center: &Point3<f64>,
        half_sizes: [f32; 3],
        rotation: rerun::Quaternion,
        label: Option<String>,
    ) {
        self.centers.push(body::f32x3(&center.coords));
        self.half_sizes.push(half_sizes);
        self.rotations.push(rotation);
        self.labels.extend(label);
    }
}

/// Pairs of colours for [`Series::Tracking`]: the actual value strong, its
/// reference a paler shade of the same hue.
fn tracking_colors(n: usize) -> Vec<Color> {
    const HUES: [(u8, u8, u8); 4] = [(220, 50, 50), (40, 150, 60), (50, 90, 220), (200, 130, 0)];
    (0..n)
        .map(|i| {
            let (r, g, b) = HUES[(i / 2) % HUES.len()];
            if i % 2 == 0 {
                body::rgb(r, g, b)
            } else {
                let pale = |c: u8| ((u16::from(c) + 2 * 230) / 3) as u8;
                body::rgb(pale(r), pale(g), pale(b))
            }
        })
        .collect()
}

fn msg_stamp(msg: &Msg) -> Option<Stamp> {
    match msg {
        Msg::Pose(stamp, _)
        | Msg::Lidar(stamp, _)
        | Msg::Prediction(stamp, _)
        | Msg::Series(stamp, _, _)
        | Msg::Event(stamp, _, _)
        | Msg::Image { stamp, .. } => Some(*stamp),
        Msg::Reference(When::At(stamp), _)
        | Msg::Targets(When::At(stamp), _)
        | Msg::Obstacles(When::At(stamp), ..) => Some(*stamp),
        Msg::Estimate(stamp, _) | Msg::Curve(stamp, ..) => Some(*stamp),
        _ => None,
    }
}

impl Writer<'_> {
    /// A curve: the rod as a grey tube with its nodes, the sections as
    /// cyan chords with their ends, the tips as dots.
    fn write_curve(
        &mut self,
        stamp: Stamp,
        curve: Curve,
        points: &[Point3<f64>],
    ) -> Result<(), String> {
        let rerun_err = |err: rerun::RecordingStreamError| err.to_string();
        let pts = f32_points(points);
        let when = When::At(stamp);
        let (color, line, dot) = match curve {
            Curve::RodShape => (ROD_COLOR, Some(0.008_f32), 0.005_f32),
            Curve::Sections => (SECTIONS_COLOR, Some(0.002), 0.008),
            Curve::Tip => (TIP_COLOR, None, 0.008),
            Curve::TipReference => (REFERENCE_COLOR, None, 0.008),
            Curve::PerceivedShape => (PERCEIVED_SHAPE_COLOR, None, 0.0015),
        };
        if let Some(radius) = line {
            self.log(
                when,
                curve.path(),
                &LineStrips3D::new([pts.clone()])
                    .with_radii([radius])
                    .with_colors([color]),
            )
            .map_err(rerun_err)?;
        }
        self.log(
            when,
            curve.path(),
            &Points3D::new(pts).with_radii([dot]).with_colors([color]),
        )
        .map_err(rerun_err)
    }
}

fn f32_points(points: &[Point3<f64>]) -> Vec<[f32; 3]> {
    points.iter().map(|p| body::f32x3(&p.coords)).collect()
}

fn jpeg_image(jpeg: Vec<u8>) -> EncodedImage {
    EncodedImage::new(jpeg).with_media_type(MediaType::JPEG)
}
