//! Obstacles from depth images and planar scans: points in the world, the
//! ground removed, clustered on a grid around the sensor, each cluster
//! fitted with a circle (a vertical cylinder or a sphere for a flying
//! robot), then tracked across frames.
//!
//! All buffers are sized at construction from the sensors' resolutions and
//! the grid; a frame only writes into them.
//!
//! Here the frames' points and the grid; `fit.rs` the clusters' circles;
//! `tracks.rs` the tracks across frames.

use nalgebra::{Isometry3, Point3, UnitQuaternion, Vector3};
use recede_msg::{CameraIntrinsics, DepthImage, LidarScan, Obstacle, ObstacleShape};

use crate::ObstacleConfig;

mod fit;
mod tracks;

use fit::Bin;
use tracks::Track;

/// Neighbouring bearings whose nearest ranges differ by more than this
/// (plus [`SURFACE_JUMP_PER_M`] per metre of range, for depth noise) see
/// two surfaces, m.
const SURFACE_JUMP_M: f64 = 0.2;
const SURFACE_JUMP_PER_M: f64 = 0.04;
/// One fitted cluster in one frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Detection {
    pub shape: ObstacleShape,
    pub position_m: Vector3<f64>,
    pub radius_m: f64,
    /// Range from the sensor to the nearest surface, m.
    pub range_m: f64,
    /// No edge of the object was seen (hidden behind nearer ones or beyond
    /// the range limit): the radius is a lower bound, and tracks only grow
    /// from it.
    pub partial: bool,
}

#[derive(Debug, Clone, Copy, Default)]
struct Cell {
    count: u32,
    label: u32,
}

#[derive(Debug, Clone, Copy)]
struct Pt {
    p: Vector3<f32>,
    cell: u32,
    /// Taken at the left or right border of the image: the object may go
    /// on beyond it.
    border: bool,
    /// The image row (or 0 for a scan): a row samples bearings evenly.
    row: u32,
    /// Half the horizontal bearing step between this sample and its
    /// neighbours in its row, rad: where the surface's edge lies on average
    /// beyond the outermost sample that hits it. `NaN` until a cluster
    /// that is fitted needs it ([`ObstacleMapper::fill_half_steps`]).
    half_step: f32,
    /// Its neighbour in its row to the left / right of the image is nearer
    /// (an occluder in front) or is the same surface going on beyond the
    /// range limit: if that side is a row's outer edge, the object's edge
    /// is not seen there.
    cut: [bool; 2],
    /// The image column (the beam for a scan).
    column: u32,
}

/// Depth / scan frames to obstacle tracks.
#[derive(Debug, Clone)]
pub struct ObstacleMapper {
    config: ObstacleConfig,
    /// Fit vertical cylinders only (ground robot), or cylinders and spheres.
    cylinders_only: bool,
    side: usize,
    cells: Vec<Cell>,
    touched: Vec<u32>,
    points: Vec<Pt>,
    stack: Vec<u32>,
    members: Vec<u32>,
    /// Per member: its bearing relative to the cluster's centre bearing and
    /// its horizontal range from the eye, computed once per cluster (the
    /// fit reads them up to eight times; two `atan2` per pixel were 6% of
    /// the flagship's time).
    polar: Vec<(f64, f64)>,
    /// The points' indices grouped by cluster (in point order within each)
    /// and where each cluster's group ends: a cluster's members in one
    /// pass over the points, not one pass per cluster.
    by_cluster: Vec<u32>,
    cluster_ends: Vec<u32>,
    /// The current depth frame's camera (orientation, intrinsics, pixel
    /// stride) for the bearing steps computed when needed; `None` for a
    /// scan.
    camera: Option<(UnitQuaternion<f64>, CameraIntrinsics, usize)>,
    /// The rays' x through the sampled columns of the current depth image
    /// (each its own division otherwise).
    column_rays: Vec<f64>,
    bins: Vec<Bin>,
    detections: Vec<Detection>,
    tracks: Vec<Track>,
    confirmed: Vec<Obstacle>,
    next_id: u32,
    origin: (f64, f64),
    /// The first and last image rows sampled in this frame (`None` for a
    /// scan): a sphere touching them goes on beyond the image.
    edge_rows: Option<(u32, u32)>,
}

impl ObstacleMapper {
    /// `max_points` bounds the points of one frame (pixels used per depth
    /// image, beams per scan).
    pub fn new(config: &ObstacleConfig, cylinders_only: bool, max_points: usize) -> Self {
        let side = (2.0 * config.grid_half_extent_m / config.cell_size_m).ceil() as usize;
        let max_tracks = config.max_tracks as usize;
        Self {
            config: config.clone(),
            cylinders_only,
            side,
            cells: vec![Cell::default(); side * side],
            touched: Vec::with_capacity(max_points),
            points: Vec::with_capacity(max_points),
            stack: Vec::with_capacity(max_points),
            members: Vec::with_capacity(max_points),
            polar: Vec::with_capacity(max_points),
            by_cluster: Vec::with_capacity(max_points),
            cluster_ends: Vec::with_capacity(max_points + 1),
            camera: None,
            column_rays: Vec::with_capacity(max_points),
            bins: Vec::with_capacity(max_points),
            detections: Vec::with_capacity(max_points / 4 + 16),
            tracks: Vec::with_capacity(max_tracks),
            confirmed: Vec::with_capacity(max_tracks),
            next_id: 1,
            origin: (0.0, 0.0),
            edge_rows: None,
        }
    }

    /// Points one depth image gives at most with this configuration.
    pub fn points_per_image(config: &ObstacleConfig, k: &CameraIntrinsics) -> usize {
        let s = config.pixel_stride as usize;
        k.width_px.div_ceil(s as u32) as usize * k.height_px.div_ceil(s as u32) as usize
    }

    /// The confirmed obstacles.
    pub fn obstacles(&self) -> &[Obstacle] {
        &self.confirmed
    }

    /// The detections of the last frame (before tracking).
    pub fn last_detections(&self) -> &[Detection] {
        &self.detections
    }

    /// Tracks, confirmed or not.
    pub fn track_count(&self) -> usize {
        self.tracks.len()
    }

    fn begin(&mut self, world_from_sensor: &Isometry3<f64>) {
        for &c in &self.touched {
            self.cells[c as usize] = Cell::default();
        }
        self.touched.clear();
        self.points.clear();
        self.detections.clear();
        let o = world_from_sensor.translation.vector;
        let h = self.config.grid_half_extent_m;
        self.origin = (o.x - h, o.y - h);
    }

    /// The grid cell a point falls in, `None` for a point the frame drops
    /// (ground, too high, off the grid, or the buffer full): asked before
    /// the point's bearing step and edges, which the ground (most of a
    /// pitched camera's pixels) never needs.
    fn cell_of(&self, p: &Vector3<f64>) -> Option<usize> {
        let c = &self.config;
        if p.z < c.ground_height_m + c.ground_tolerance_m || p.z > c.max_height_m {
            return None;
        }
        if self.points.len() == self.points.capacity() {
            return None;
        }
        // (`floor` is a libm call on this target; for a non-negative
        // coordinate truncation is the same, and `x < side` is
        // `floor(x) < side`.)
        let i = (p.x - self.origin.0) / c.cell_size_m;
        let j = (p.y - self.origin.1) / c.cell_size_m;
        let side = self.side as f64;
        if !(i >= 0.0 && j >= 0.0 && i < side && j < side) {
            return None;
        }
        Some(j as usize * self.side + i as usize)
    }

    /// Adds a point to `cell` ([`Self::cell_of`]).
    fn add_point(
        &mut self,
        cell: usize,
        p: &Vector3<f64>,
        border: bool,
        (row, column): (u32, u32),
        half_step: f64,
        cut: [bool; 2],
    ) {
        if self.cells[cell].count == 0 {
            self.touched.push(cell as u32);
        }
        self.cells[cell].count += 1;
        self.points.push(Pt {
            p: p.map(|v| v as f32),
            cell: cell as u32,
            border,
            row,
            half_step: half_step as f32,
            cut,
            column,
        });
    }

    /// Labels 8-connected occupied cells; returns the number of clusters.
    fn label(&mut self) -> u32 {
        let side = self.side as i64;
        let mut next = 0;
        for t in 0..self.touched.len() {
            let start = self.touched[t] as usize;
            if self.cells[start].label != 0 {
                continue;
            }
            next += 1;
            self.cells[start].label = next;
            self.stack.clear();
            self.stack.push(start as u32);
            while let Some(c) = self.stack.pop() {
                let (ci, cj) = (c as i64 % side, c as i64 / side);
                for dj in -1..=1 {
                    for di in -1..=1 {
                        let (ni, nj) = (ci + di, cj + dj);
                        if ni < 0 || nj < 0 || ni >= side || nj >= side {
                            continue;
                        }
                        let n = (nj * side + ni) as usize;
                        if self.cells[n].count > 0 && self.cells[n].label == 0 {
                            self.cells[n].label = next;
                            if self.stack.len() < self.stack.capacity() {
                                self.stack.push(n as u32);
                            }
                        }
                    }
                }
            }
        }
        next
    }

    /// Detects obstacles in one depth image taken from `world_from_camera`
    /// (optical frame), then updates the tracks.
    pub fn depth_frame(
        &mut self,
        t_secs: f64,
        image: &DepthImage,
        k: &CameraIntrinsics,
        world_from_camera: &Isometry3<f64>,
    ) {
        self.begin(world_from_camera);
        let stride = self.config.pixel_stride as usize;
        let (w, h) = (image.width_px as usize, image.height_px as usize);
        if w != k.width_px as usize || h != k.height_px as usize || image.data.len() != w * h {
            return;
        }
        let max_range = self.config.max_range_m;
        let last_u = (w - 1) / stride * stride;
        self.edge_rows = Some((0, ((h - 1) / stride * stride) as u32));
        self.camera = Some((world_from_camera.rotation, *k, stride));
        // A ray's x depends on its column alone, its y on its row.
        let cached = w.div_ceil(stride) <= self.column_rays.capacity();
        self.column_rays.clear();
        if cached {
            let columns = (0..w).step_by(stride).map(|u| k.ray(u as u32, 0).x);
            self.column_rays.extend(columns);
        }
        for v in (0..h).step_by(stride) {
            let ray_y = k.ray(0, v as u32).y;
            for (c, u) in (0..w).step_by(stride).enumerate() {
                let z = image.data[v * w + u] as f64;
                if !(z.is_finite() && z > 0.0 && z <= max_range) {
                    continue;
                }
                let ray_x = match cached {
                    true => self.column_rays[c],
                    false => k.ray(u as u32, 0).x,
                };
                let ray = Vector3::new(ray_x, ray_y, 1.0);
                let p = world_from_camera * Point3::from(ray * z);
                let Some(cell) = self.cell_of(&p.coords) else {
                    continue;
                };
                let row = &image.data[v * w..(v + 1) * w];
                let neighbour = |du: isize| {
                    let n = u as isize + du * stride as isize;
                    (0..w as isize).contains(&n).then(|| row[n as usize] as f64)
                };
                let cut = [
                    hidden_edge(z, neighbour(-1), max_range),
                    hidden_edge(z, neighbour(1), max_range),
                ];
                self.add_point(
                    cell,
                    &p.coords,
                    u == 0 || u == last_u,
                    (v as u32, u as u32),
                    f64::NAN,
                    cut,
                );
            }
        }
        let eye = world_from_camera.translation.vector;
        self.fit(&eye, stride as f64 / k.fx_px);
        self.associate(t_secs);
        self.check_free_space(image, k, world_from_camera);
        self.maintain(t_secs);
    }

    /// Detects obstacles in one planar scan taken from `world_from_sensor`.
    pub fn scan_frame(
        &mut self,
        t_secs: f64,
        scan: &LidarScan,
        world_from_sensor: &Isometry3<f64>,
    ) {
        self.begin(world_from_sensor);
        self.edge_rows = None;
        self.camera = None;
        let max_range = self.config.max_range_m.min(scan.range_max_m);
        for (i, &r) in scan.ranges_m.iter().enumerate() {
            let r = r as f64;
            if !(r.is_finite() && r > 0.0 && r <= max_range) {
                continue;
            }
            let a = scan.angle_min_rad + i as f64 * scan.angle_increment_rad;
            let p = world_from_sensor * Point3::new(r * a.cos(), r * a.sin(), 0.0);
            let Some(cell) = self.cell_of(&p.coords) else {
                continue;
            };
            let half_step = 0.5 * scan.angle_increment_rad.abs();
            let neighbour =
                |n: Option<usize>| n.and_then(|n| scan.ranges_m.get(n)).map(|&r| r as f64);
            let cut = [
                hidden_edge(r, neighbour(i.checked_sub(1)), max_range),
                hidden_edge(r, neighbour(Some(i + 1)), max_range),
            ];
            self.add_point(cell, &p.coords, false, (0, i as u32), half_step, cut);
        }
        let eye = world_from_sensor.translation.vector;
        self.fit(&eye, scan.angle_increment_rad.abs());
        self.associate(t_secs);
        self.maintain(t_secs);
    }
}

/// Whether a sample at range `range` has, beside it, a nearer surface (an
/// occluder: nearer by more than [`OCCLUDER_M`] plus [`OCCLUDER_PER_M`] per
/// metre) or the same surface going on beyond `max_range` (within a
/// surface jump): the object's edge is not seen there if that side is
/// outside it. A farther neighbour beyond a jump, or none (sky), is an edge.
fn hidden_edge(range: f64, neighbour: Option<f64>, max_range: f64) -> bool {
    let Some(n) = neighbour.filter(|n| n.is_finite() && *n > 0.0) else {
        return false;
    };
    let jump = SURFACE_JUMP_M + SURFACE_JUMP_PER_M * range;
    n < range - (OCCLUDER_M + OCCLUDER_PER_M * range) || (n > max_range && n < range + jump)
}

/// A neighbour this much nearer (plus per metre of range, for depth noise)
/// is in front of the sample's surface, m.
const OCCLUDER_M: f64 = 0.05;
const OCCLUDER_PER_M: f64 = 0.02;

/// Half the bearing step at depth pixel `(u, v)`: between the rays half a
/// stride to either side, turned into the world. A pitched camera's
/// columns fan out, and off the optical axis a pixel spans a smaller angle.
fn half_step(
    rotation: &UnitQuaternion<f64>,
    k: &CameraIntrinsics,
    stride: usize,
    u: u32,
    v: u32,
) -> f64 {
    let ray = k.ray(u, v);
    let side = Vector3::new(0.5 * stride as f64 / k.fx_px, 0.0, 0.0);
    let (a, b) = (rotation * (ray - side), rotation * (ray + side));
    0.5 * crate::kalman::wrap_angle(b.y.atan2(b.x) - a.y.atan2(a.x)).abs()
}

fn horizontal_range(eye: &Vector3<f64>, p: &Vector3<f64>) -> f64 {
    ((p.x - eye.x).powi(2) + (p.y - eye.y).powi(2)).sqrt()
}

fn relative_bearing(eye: &Vector3<f64>, p: &Vector3<f64>, centre: f64) -> f64 {
    let b = (p.y - eye.y).atan2(p.x - eye.x) - centre;
    crate::kalman::wrap_angle(b)
}

#[cfg(test)]
mod tests;
