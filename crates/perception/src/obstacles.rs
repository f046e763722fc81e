//! Obstacles from depth images and planar scans: points in the world, the
//! ground removed, clustered on a grid around the sensor, each cluster
//! fitted with a circle (a vertical cylinder or a sphere for a flying
//! robot), then tracked across frames.
//!
//! All buffers are sized at construction from the sensors' resolutions and
//! the grid; a frame only writes into them.

use nalgebra::{Isometry3, Point3, UnitQuaternion, Vector3};
use recede_msg::{CameraIntrinsics, DepthImage, LidarScan, Obstacle, ObstacleShape};

use crate::ObstacleConfig;

/// Neighbouring bearings whose nearest ranges differ by more than this
/// (plus [`SURFACE_JUMP_PER_M`] per metre of range, for depth noise) see
/// two surfaces, m.
const SURFACE_JUMP_M: f64 = 0.2;
const SURFACE_JUMP_PER_M: f64 = 0.04;
/// A ridge of range this much (plus [`RIDGE_PER_M`] per metre) above the
/// dips on both sides parts two round surfaces, m.
const RIDGE_M: f64 = 0.05;
const RIDGE_PER_M: f64 = 0.005;

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

/// The points of one cluster within one bearing step: how many, their
/// bearings' extent, the nearest range.
#[derive(Debug, Clone, Copy)]
struct Bin {
    count: u32,
    lo: f64,
    hi: f64,
    near: f64,
}

impl Bin {
    const EMPTY: Self = Self {
        count: 0,
        lo: f64::INFINITY,
        hi: f64::NEG_INFINITY,
        near: f64::INFINITY,
    };
}

/// One image row's samples within a piece: its outermost bearings, their
/// half-steps and whether the object's edge is hidden there, and the
/// bearing of its nearest sample.
#[derive(Debug, Clone, Copy)]
struct Row {
    index: u32,
    lo: f64,
    lo_half_step: f64,
    lo_column: u32,
    lo_sides: [bool; 2],
    hi: f64,
    hi_half_step: f64,
    hi_column: u32,
    hi_sides: [bool; 2],
    near: f64,
    near_bearing: f64,
}

/// What one row says of its object's angular half-width.
#[derive(Debug, Clone, Copy, PartialEq)]
enum RowWidth {
    /// Both edges seen: half the angle between them.
    Full { half_width: f64, half_step: f64 },
    /// One edge hidden: from the seen edge to the nearest sample's
    /// bearing (a circle's nearest point faces the eye), never less than
    /// half what is seen.
    OneSided(f64),
    /// Both edges hidden, or the nearest sample at a hidden one (the
    /// centre's bearing not seen): half what is seen, a lower bound.
    Hidden(f64),
}

impl Row {
    const EMPTY: Self = Self {
        index: u32::MAX,
        lo: f64::INFINITY,
        lo_half_step: 0.0,
        lo_column: 0,
        lo_sides: [false; 2],
        hi: f64::NEG_INFINITY,
        hi_half_step: 0.0,
        hi_column: 0,
        hi_sides: [false; 2],
        near: f64::INFINITY,
        near_bearing: 0.0,
    };

    fn is_some(&self) -> bool {
        self.lo <= self.hi
    }

    fn add(&mut self, index: u32, bearing: f64, half_step: f64, pt: &Pt, range: f64) {
        self.index = index;
        if bearing < self.lo {
            (self.lo, self.lo_half_step) = (bearing, half_step);
            (self.lo_column, self.lo_sides) = (pt.column, pt.cut);
        }
        if bearing > self.hi {
            (self.hi, self.hi_half_step) = (bearing, half_step);
            (self.hi_column, self.hi_sides) = (pt.column, pt.cut);
        }
        if range < self.near {
            (self.near, self.near_bearing) = (range, bearing);
        }
    }

    /// Whether the lowest / highest bearing's edge is hidden: its
    /// neighbour on the side away from the other edge (columns and bearings
    /// may run either way) is an occluder or beyond range.
    fn cuts(&self) -> (bool, bool) {
        let outer = |sides: [bool; 2], column: u32, other: u32| match column.cmp(&other) {
            std::cmp::Ordering::Less => sides[0],
            std::cmp::Ordering::Greater => sides[1],
            std::cmp::Ordering::Equal => sides[0] || sides[1],
        };
        (
            outer(self.lo_sides, self.lo_column, self.hi_column),
            outer(self.hi_sides, self.hi_column, self.lo_column),
        )
    }

    fn width(&self) -> RowWidth {
        let (lo_cut, hi_cut) = self.cuts();
        // Each edge half a step beyond the outermost sample.
        let (lo, hi) = (self.lo - self.lo_half_step, self.hi + self.hi_half_step);
        let seen = 0.5 * (hi - lo);
        match (lo_cut, hi_cut) {
            (false, false) => RowWidth::Full {
                half_width: seen,
                half_step: 0.5 * (self.lo_half_step + self.hi_half_step),
            },
            // The nearest sample next to the hidden edge: the range still
            // falls into the hidden part, where the centre's bearing is.
            (true, _) if self.near_bearing <= self.lo + 2.0 * self.lo_half_step => {
                RowWidth::Hidden(seen)
            }
            (_, true) if self.near_bearing >= self.hi - 2.0 * self.hi_half_step => {
                RowWidth::Hidden(seen)
            }
            (true, false) => RowWidth::OneSided((hi - self.near_bearing).max(seen)),
            (false, true) => RowWidth::OneSided((self.near_bearing - lo).max(seen)),
            (true, true) => RowWidth::Hidden(seen),
        }
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Track {
    obstacle: Obstacle,
    variance: f64,
    radius_variance: f64,
    first_seen_secs: f64,
    misses: u32,
    confirmed: bool,
    /// Hit in the current frame (a track takes at most one detection).
    matched: bool,
    /// The first detection that hit it in the current frame.
    frame_hit: Option<Detection>,
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

    /// Clusters the frame's points and fits them, seen from `eye`;
    /// `angular_resolution_rad` is the angle between neighbouring samples.
    fn fit(&mut self, eye: &Vector3<f64>, angular_resolution_rad: f64) {
        let clusters = self.label() as usize;
        // Counting sort by cluster: `cluster_ends[l]` counts, then starts,
        // then (after the scatter) ends the group of cluster `l`.
        self.cluster_ends.clear();
        self.cluster_ends.resize(clusters + 1, 0);
        for pt in &self.points {
            self.cluster_ends[self.cells[pt.cell as usize].label as usize] += 1;
        }
        let mut start = 0;
        for end in &mut self.cluster_ends {
            (start, *end) = (start + *end, start);
        }
        self.by_cluster.clear();
        self.by_cluster.resize(self.points.len(), 0);
        for (k, pt) in self.points.iter().enumerate() {
            let next = &mut self.cluster_ends[self.cells[pt.cell as usize].label as usize];
            self.by_cluster[*next as usize] = k as u32;
            *next += 1;
        }
        for label in 1..=clusters {
            let group = self.cluster_ends[label - 1] as usize..self.cluster_ends[label] as usize;
            self.members.clear();
            self.members.extend_from_slice(&self.by_cluster[group]);
            // Too small, or cut by the image's side (its width, and so its
            // radius and centre, unknown): wait for a better view.
            if self.members.len() < self.config.min_points as usize
                || self.members.iter().any(|&k| self.points[k as usize].border)
            {
                continue;
            }
            self.fill_half_steps();
            self.fit_cluster(eye, angular_resolution_rad);
        }
    }

    /// Computes the bearing step of the members that have none yet (a
    /// depth image's points): asked only for clusters that are fitted.
    fn fill_half_steps(&mut self) {
        let Some((rotation, k, stride)) = self.camera else {
            return;
        };
        for &m in &self.members {
            let pt = &mut self.points[m as usize];
            if pt.half_step.is_nan() {
                pt.half_step = half_step(&rotation, &k, stride, pt.column, pt.row) as f32;
            }
        }
    }

    /// Fits the points in `members`: split into surfaces by bearing, each
    /// fitted by [`Self::fit_surface`].
    fn fit_cluster(&mut self, eye: &Vector3<f64>, res: f64) {
        // Mean bearing, then bearings relative to it (no wrap-around).
        let (mut sx, mut sy, mut zmin, mut zmax) = (0.0, 0.0, f64::INFINITY, f64::NEG_INFINITY);
        for &k in &self.members {
            let p = self.points[k as usize].p.map(f64::from);
            let d = (p.x - eye.x, p.y - eye.y);
            let n = (d.0 * d.0 + d.1 * d.1).sqrt().max(1e-9);
            sx += d.0 / n;
            sy += d.1 / n;
            zmin = zmin.min(p.z);
            zmax = zmax.max(p.z);
        }
        let centre_bearing = sy.atan2(sx);
        let (mut lo, mut hi, mut near) = (f64::INFINITY, f64::NEG_INFINITY, f64::INFINITY);
        self.polar.clear();
        for &k in &self.members {
            let p = self.points[k as usize].p.map(f64::from);
            let (b, r) = (
                relative_bearing(eye, &p, centre_bearing),
                horizontal_range(eye, &p),
            );
            self.polar.push((b, r));
            lo = lo.min(b);
            hi = hi.max(b);
            near = near.min(r);
        }
        let heights = (zmin, zmax);
        // One bin per bearing step; a cluster wider than the buffer (never
        // for a camera's points) is fitted as one surface.
        let steps = ((hi - lo) / res).round();
        if !(steps.is_finite() && (steps as usize) < self.bins.capacity()) {
            self.fit_surface(eye, centre_bearing, (lo, hi), res, near, heights);
            return;
        }
        self.bins.clear();
        self.bins.resize(steps as usize + 1, Bin::EMPTY);
        for &(b, r) in &self.polar {
            let i = (((b - lo) / res).round() as usize).min(self.bins.len() - 1);
            let bin = &mut self.bins[i];
            bin.count += 1;
            bin.lo = bin.lo.min(b);
            bin.hi = bin.hi.max(b);
            bin.near = bin.near.min(r);
        }
        // Surfaces end where the background shows through (an empty
        // bearing step), where the range jumps (one object before another)
        // and at a ridge of range between two dips (two round objects side
        // by side): pillars centimetres apart share grid cells, not surfaces.
        let mut start: Option<(f64, f64)> = None; // (lo bearing, near)
        let mut last = Bin::EMPTY;
        let mut last_index = 0;
        // The surface's nearest range so far, the highest range since it,
        // that ridge's bin, and the nearest range after the ridge.
        let (mut dip, mut ridge, mut ridge_bin, mut after) =
            (f64::INFINITY, f64::NEG_INFINITY, Bin::EMPTY, f64::INFINITY);
        for i in 0..self.bins.len() {
            let bin = self.bins[i];
            if bin.count == 0 {
                continue;
            }
            // The nearest of a step's points (a column of pixels): its
            // spread is a fraction of one pixel's depth noise.
            let v = bin.near;
            if let Some((a, near)) = start {
                let jump =
                    (bin.near - last.near).abs() > SURFACE_JUMP_M + SURFACE_JUMP_PER_M * last.near;
                if i > last_index + 1 || jump {
                    self.fit_surface(eye, centre_bearing, (a, last.hi), res, near, heights);
                    start = None;
                    (dip, ridge, after) = (f64::INFINITY, f64::NEG_INFINITY, f64::INFINITY);
                } else {
                    if v > ridge {
                        (ridge, ridge_bin, after) = (v, bin, f64::INFINITY);
                    } else {
                        after = after.min(v);
                    }
                    let prominence = RIDGE_M + RIDGE_PER_M * dip;
                    if ridge - dip > prominence && ridge - after > prominence {
                        // The ridge's step ends the surface before it.
                        self.fit_surface(
                            eye,
                            centre_bearing,
                            (a, ridge_bin.hi),
                            res,
                            near,
                            heights,
                        );
                        start = Some((ridge_bin.hi + 1e-6, after.min(bin.near)));
                        (dip, ridge, after) = (after, v, f64::INFINITY);
                        ridge_bin = bin;
                    }
                }
            }
            if v < dip {
                (dip, ridge, ridge_bin, after) = (v, v, bin, f64::INFINITY);
            }
            start = Some(match start {
                Some((a, near)) => (a, near.min(bin.near)),
                None => (bin.lo, bin.near),
            });
            last = bin;
            last_index = i;
        }
        if let Some((a, near)) = start {
            self.fit_surface(eye, centre_bearing, (a, last.hi), res, near, heights);
        }
    }

    /// Fits one surface between the bearings `span` (relative to
    /// `centre_bearing`) whose nearest point is `near` away: circles tangent
    /// to it, split by bearing when one would be wider than `max_radius_m`.
    fn fit_surface(
        &mut self,
        eye: &Vector3<f64>,
        centre_bearing: f64,
        (lo, hi): (f64, f64),
        res: f64,
        near: f64,
        (zmin, zmax): (f64, f64),
    ) {
        let max_r = self.config.max_radius_m;
        // Angular half-width a circle of max_r at range `near` subtends.
        let max_half = (max_r / (near + max_r)).asin();
        let pieces = (((hi - lo) + res) / (2.0 * max_half)).ceil().max(1.0) as usize;
        let width = (hi - lo) / pieces as f64;
        for piece in 0..pieces {
            let a = lo + piece as f64 * width;
            let b = if piece + 1 == pieces { hi } else { a + width };
            self.fit_piece(eye, centre_bearing, a, b, res, zmin, zmax);
        }
    }

    fn fit_piece(
        &mut self,
        eye: &Vector3<f64>,
        centre_bearing: f64,
        lo: f64,
        hi: f64,
        res: f64,
        zmin: f64,
        zmax: f64,
    ) {
        // The piece's angular half-width, one estimate per image row: the
        // true edge lies between the outermost sample that hits and the
        // next one, half a step beyond it on average, and that step is the
        // row's own (a pitched camera's rows sample bearings at different
        // offsets and spacings, an image's sides more finely than its
        // centre). Taking the extremes over all rows plus half the centre's
        // step read radii 3 to 9 cm large (issue 13). Rows whose edges are
        // both seen are used when there are any: the widest (a sphere's
        // row through its centre) and the mean of those within a step of
        // it (a cylinder's every row; each row is off by at most a step).
        // An edge hidden by a nearer object or by the range limit says
        // nothing of the width: a row with one is measured from its other
        // edge to its nearest sample, and a piece with no edge seen at all
        // gives a lower bound only ([`Detection::partial`]).
        let (mut widest, mut step) = (0.0f64, 0.0);
        let (mut one_sum, mut one_max, mut one_rows, mut one_bearing) = (0.0, 0.0f64, 0usize, 0.0);
        let (mut hidden, mut hidden_rows) = (0.0f64, 0usize);
        self.each_row((lo, hi), |row| match row.width() {
            RowWidth::Full {
                half_width,
                half_step,
            } => {
                if half_width > widest {
                    (widest, step) = (half_width, half_step);
                }
            }
            RowWidth::OneSided(h) => {
                (one_sum, one_rows) = (one_sum + h, one_rows + 1);
                one_max = one_max.max(h);
                one_bearing += row.near_bearing;
            }
            RowWidth::Hidden(h) => (hidden, hidden_rows) = (hidden.max(h), hidden_rows + 1),
        });
        let (mut full_sum, mut full_rows) = (0.0, 0usize);
        self.each_row((lo, hi), |row| {
            if let RowWidth::Full { half_width, .. } = row.width() {
                if half_width >= widest - 2.0 * step {
                    (full_sum, full_rows) = (full_sum + half_width, full_rows + 1);
                }
            }
        });
        // (mean over rows, widest row, centre bearing, a lower bound only)
        let (mean_half, widest_half, mid, partial) = if full_rows > 0 {
            (full_sum / full_rows as f64, widest, 0.5 * (lo + hi), false)
        } else if one_rows > 0 && one_rows >= hidden_rows {
            // (Most rows with the middle in view: a few rows' nearest
            // sample off the hidden edge by noise do not count.)
            let n = one_rows as f64;
            (one_sum / n, one_max, one_bearing / n, false)
        } else {
            (hidden, hidden, 0.5 * (lo + hi), true)
        };
        // Range to the surface along the middle quarter of the piece.
        let band = (0.25 * (hi - lo)).max(res);
        let (mut sum, mut n, mut count) = (0.0, 0usize, 0usize);
        let (mut pzmin, mut pzmax) = (f64::INFINITY, f64::NEG_INFINITY);
        let mut at_image_edge = false;
        for (&k, &(b, r)) in self.members.iter().zip(&self.polar) {
            if b < lo - 1e-9 || b > hi + 1e-9 {
                continue;
            }
            let p = self.points[k as usize].p.map(f64::from);
            count += 1;
            pzmin = pzmin.min(p.z);
            pzmax = pzmax.max(p.z);
            let row = self.points[k as usize].row;
            at_image_edge |= self.edge_rows.is_some_and(|(a, b)| row == a || row == b);
            if (b - mid).abs() <= band {
                sum += r;
                n += 1;
            }
        }
        if n == 0 || mean_half <= 0.0 || count < (self.config.min_points as usize).div_ceil(2) {
            return;
        }
        let near = sum / n as f64;
        let circle = |half: f64| {
            let s = half.sin().min(0.9);
            near * s / (1.0 - s)
        };
        let (zmin, zmax) = if pzmin.is_finite() {
            (pzmin, pzmax)
        } else {
            (zmin, zmax)
        };
        let from_ground = zmin < self.config.ground_height_m + self.config.ground_tolerance_m + 0.3;
        let widest_radius = circle(widest_half);
        // A sphere is only measured whole: the rows through its middle,
        // the widest, are the ones the range limit cuts first.
        let (shape, radius, partial) =
            if self.cylinders_only || from_ground || zmax - zmin > 3.0 * widest_radius {
                let shape = ObstacleShape::Cylinder { top_m: zmax };
                (shape, circle(mean_half), partial)
            } else {
                // (its widest row may lie beyond the image's top or bottom)
                let cut = one_rows + hidden_rows > 0 || at_image_edge;
                (ObstacleShape::Sphere, widest_radius, partial || cut)
            };
        let bearing = centre_bearing + mid;
        let dist = near + radius;
        let z = match shape {
            ObstacleShape::Cylinder { .. } => 0.5 * (self.config.ground_height_m + zmax),
            ObstacleShape::Sphere => 0.5 * (zmin + zmax),
        };
        let mut centre = Vector3::new(
            eye.x + dist * bearing.cos(),
            eye.y + dist * bearing.sin(),
            z,
        );
        let (mut radius, mut partial) = (radius, partial);
        // A pillar whose middle is hidden: its width says little, but the
        // curve of what is seen (every row on the same circle) does. A
        // circle fitted to the points is taken when it lies behind them
        // and is at least as wide as what is seen.
        if partial && matches!(shape, ObstacleShape::Cylinder { .. }) {
            if let Some((c, r)) = self.fit_circle((lo, hi)) {
                let behind = (c - eye.xy()).norm() > near;
                if behind && r >= radius && r <= self.config.max_radius_m {
                    (centre.x, centre.y, radius, partial) = (c.x, c.y, r, false);
                }
            }
        }
        if self.detections.len() < self.detections.capacity() {
            self.detections.push(Detection {
                shape,
                position_m: centre,
                radius_m: radius,
                range_m: near,
                partial,
            });
        }
    }

    /// The least-squares circle through the horizontal positions of the
    /// members between the bearings `lo` and `hi`: its centre and radius,
    /// or `None` when they are degenerate. Kasa's algebraic fit starts a
    /// few Gauss-Newton steps on the distances to the circle (the
    /// algebraic fit alone reads a short arc's radius small: 0.25 for a
    /// 0.3 m pillar seen over a third of its width).
    fn fit_circle(&self, (lo, hi): (f64, f64)) -> Option<(nalgebra::Vector2<f64>, f64)> {
        let in_span = |(&k, &(b, _)): (&u32, &(f64, f64))| {
            let p = self.points[k as usize].p.map(f64::from);
            (b >= lo - 1e-9 && b <= hi + 1e-9).then_some(p.xy())
        };
        let members = || self.members.iter().zip(&self.polar);
        // Relative to the first point, for conditioning.
        let o = members().find_map(in_span)?;
        let mut a = nalgebra::Matrix3::<f64>::zeros();
        let mut rhs = Vector3::<f64>::zeros();
        for q in members().filter_map(in_span) {
            let (x, y) = (q.x - o.x, q.y - o.y);
            let row = Vector3::new(x, y, 1.0);
            a += row * row.transpose();
            rhs -= row * (x * x + y * y);
        }
        let d = a.lu().solve(&rhs)?;
        let mut c = nalgebra::Vector2::new(-0.5 * d.x, -0.5 * d.y);
        let r2 = c.norm_squared() - d.z;
        if !(r2 > 0.0 && r2.is_finite()) {
            return None;
        }
        let mut r = r2.sqrt();
        for _ in 0..5 {
            let (mut jtj, mut jtr) = (nalgebra::Matrix3::<f64>::zeros(), Vector3::<f64>::zeros());
            for q in members().filter_map(in_span) {
                let v = q - o - c;
                let dist = v.norm().max(1e-9);
                let j = Vector3::new(-v.x / dist, -v.y / dist, -1.0);
                jtj += j * j.transpose();
                jtr += j * (dist - r);
            }
            let step = jtj.lu().solve(&(-jtr))?;
            c += step.xy();
            r += step.z;
            if !(r > 0.0 && r.is_finite()) {
                return None;
            }
        }
        Some((c + o, r))
    }

    /// Calls `f(row)` for each image row of the members between the
    /// bearings `lo` and `hi` (members are in row order).
    fn each_row(&self, (lo, hi): (f64, f64), mut f: impl FnMut(&Row)) {
        let mut row = Row::EMPTY;
        for (&k, &(b, range)) in self.members.iter().zip(&self.polar) {
            if b < lo - 1e-9 || b > hi + 1e-9 {
                continue;
            }
            let pt = self.points[k as usize];
            if pt.row != row.index && row.is_some() {
                f(&row);
                row = Row::EMPTY;
            }
            row.add(pt.row, b, f64::from(pt.half_step), &pt, range);
        }
        if row.is_some() {
            f(&row);
        }
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

    fn associate(&mut self, t_secs: f64) {
        for tr in &mut self.tracks {
            tr.matched = false;
            tr.frame_hit = None;
        }
        for d in 0..self.detections.len() {
            let det = self.detections[d];
            let mut best: Option<(usize, f64)> = None;
            for (i, tr) in self.tracks.iter().enumerate() {
                let o = &tr.obstacle;
                let gap = gap(o, &det.position_m, det.shape);
                let gate = same_object_gate(&self.config, o.radius_m, det.radius_m);
                if gap < gate && best.is_none_or(|(_, g)| gap < g) {
                    best = Some((i, gap));
                }
            }
            // Measurement spread grows with range (depth noise, pose error).
            let meas_var = (0.03 + 0.02 * det.range_m).powi(2);
            // Two objects apart in this frame that one track took for one
            // (seen merged from afar): the track restarts on the first,
            // and this one gets its own.
            if let Some((i, _)) = best {
                if let Some(first) = self.tracks[i].frame_hit {
                    let apart = (first.position_m.xy() - det.position_m.xy()).norm()
                        > same_object_gate(&self.config, first.radius_m, det.radius_m);
                    if apart {
                        let tr = &mut self.tracks[i];
                        let first_var = (0.03 + 0.02 * first.range_m).powi(2);
                        tr.obstacle.position_m = first.position_m;
                        tr.obstacle.radius_m = first.radius_m;
                        tr.obstacle.shape = first.shape;
                        tr.variance = first_var;
                        tr.radius_variance = first_var;
                        best = None;
                    }
                }
            }
            match best {
                Some((i, _)) => {
                    let tr = &mut self.tracks[i];
                    let gain = tr.variance / (tr.variance + meas_var);
                    let o = &mut tr.obstacle;
                    o.position_m += (det.position_m - o.position_m) * gain;
                    tr.variance *= 1.0 - gain;
                    if !det.partial {
                        let rgain = tr.radius_variance / (tr.radius_variance + meas_var);
                        o.radius_m += (det.radius_m - o.radius_m) * rgain;
                        tr.radius_variance *= 1.0 - rgain;
                    } else if det.radius_m > o.radius_m {
                        // A lower bound above the estimate: the object is
                        // at least this large, and the estimate was not
                        // as sure as it thought.
                        o.radius_m = det.radius_m;
                        tr.radius_variance = tr.radius_variance.max(meas_var);
                    }
                    o.shape = match (o.shape, det.shape) {
                        (
                            ObstacleShape::Cylinder { top_m: a },
                            ObstacleShape::Cylinder { top_m: b },
                        ) => ObstacleShape::Cylinder { top_m: a.max(b) },
                        (_, s) if o.hits < 3 => s,
                        (s, _) => s,
                    };
                    // Several pieces of one object in a frame count once.
                    if !tr.matched {
                        o.hits += 1;
                    }
                    o.last_seen_secs = t_secs;
                    tr.misses = 0;
                    tr.matched = true;
                    tr.frame_hit = tr.frame_hit.or(Some(det));
                    if o.hits >= self.config.confirm_hits {
                        tr.confirmed = true;
                    }
                }
                // A lower bound starts nothing: wait for a better view.
                None if det.partial => {}
                None => {
                    if self.tracks.len() < self.tracks.capacity() {
                        let id = self.next_id;
                        self.next_id += 1;
                        self.tracks.push(Track {
                            obstacle: Obstacle {
                                id,
                                shape: det.shape,
                                position_m: det.position_m,
                                radius_m: det.radius_m,
                                position_std_m: meas_var.sqrt(),
                                radius_std_m: meas_var.sqrt(),
                                hits: 1,
                                last_seen_secs: t_secs,
                            },
                            variance: meas_var,
                            radius_variance: meas_var,
                            first_seen_secs: t_secs,
                            misses: 0,
                            confirmed: self.config.confirm_hits <= 1,
                            matched: true,
                            frame_hit: Some(det),
                        });
                    }
                }
            }
        }
    }

    /// A confirmed track in view that the image sees through is a miss.
    fn check_free_space(
        &mut self,
        image: &DepthImage,
        k: &CameraIntrinsics,
        world_from_camera: &Isometry3<f64>,
    ) {
        let camera_from_world = world_from_camera.inverse();
        let eye_z = world_from_camera.translation.vector.z;
        for tr in &mut self.tracks {
            if tr.matched || !tr.confirmed {
                continue;
            }
            let o = &tr.obstacle;
            let z = match o.shape {
                ObstacleShape::Cylinder { top_m } => {
                    eye_z.clamp(self.config.ground_height_m, top_m)
                }
                ObstacleShape::Sphere => o.position_m.z,
            };
            let c = camera_from_world * Point3::new(o.position_m.x, o.position_m.y, z);
            let expected = c.z - o.radius_m;
            if expected <= 0.3 || expected > 0.8 * self.config.max_range_m {
                continue;
            }
            let Some(px) = k.project(&c.coords) else {
                continue;
            };
            if px.x < 0.0 || px.y < 0.0 {
                continue;
            }
            let Some(seen) = image.get(px.x as u32, px.y as u32) else {
                continue;
            };
            let seen = seen as f64;
            if !seen.is_finite() || seen > expected + o.radius_m + 0.5 {
                tr.misses += 1;
            }
        }
    }

    /// Merges tracks that describe one object (seen in pieces, or by two
    /// sensors before their estimates met).
    fn merge(&mut self) {
        let mut i = 0;
        while i < self.tracks.len() {
            let mut j = i + 1;
            while j < self.tracks.len() {
                let (a, b) = (&self.tracks[i], &self.tracks[j]);
                let g = gap(&a.obstacle, &b.obstacle.position_m, b.obstacle.shape);
                let limit = (0.5 * self.config.association_gate_m
                    + 0.5 * a.obstacle.radius_m.min(b.obstacle.radius_m))
                .min(a.obstacle.radius_m.max(b.obstacle.radius_m) + DISJOINT_TOLERANCE_M);
                if g < limit {
                    let b = self.tracks.swap_remove(j);
                    let a = &mut self.tracks[i];
                    let w = b.variance / (a.variance + b.variance);
                    let o = &mut a.obstacle;
                    o.position_m += (b.obstacle.position_m - o.position_m) * (1.0 - w);
                    let rw = b.radius_variance / (a.radius_variance + b.radius_variance);
                    o.radius_m += (b.obstacle.radius_m - o.radius_m) * (1.0 - rw);
                    a.radius_variance *= rw;
                    o.hits = o.hits.max(b.obstacle.hits);
                    o.id = o.id.min(b.obstacle.id);
                    o.last_seen_secs = o.last_seen_secs.max(b.obstacle.last_seen_secs);
                    if let (
                        ObstacleShape::Cylinder { top_m: ta },
                        ObstacleShape::Cylinder { top_m: tb },
                    ) = (o.shape, b.obstacle.shape)
                    {
                        o.shape = ObstacleShape::Cylinder { top_m: ta.max(tb) };
                    }
                    a.variance *= w;
                    a.confirmed |= b.confirmed;
                    a.misses = a.misses.min(b.misses);
                } else {
                    j += 1;
                }
            }
            i += 1;
        }
    }

    fn maintain(&mut self, t_secs: f64) {
        self.merge();
        let c = &self.config;
        self.tracks.retain(|tr| {
            if tr.confirmed {
                tr.misses < c.expiry_misses
            } else {
                t_secs - tr.first_seen_secs <= c.tentative_timeout_secs
            }
        });
        self.confirmed.clear();
        for tr in &mut self.tracks {
            tr.obstacle.position_std_m = tr.variance.sqrt();
            tr.obstacle.radius_std_m = tr.radius_variance.sqrt();
            if tr.confirmed {
                self.confirmed.push(tr.obstacle);
            }
        }
    }
}

/// Largest centre distance at which a detection is the track's object:
/// the association gate, but never beyond the larger circle (plus
/// [`DISJOINT_TOLERANCE_M`]): a neighbour a few centimetres away is
/// another object, and fitted radii run a few centimetres large.
fn same_object_gate(config: &ObstacleConfig, track_radius: f64, detection_radius: f64) -> f64 {
    let gate = config.association_gate_m + 0.5 * track_radius.min(detection_radius);
    gate.min(track_radius.max(detection_radius) + DISJOINT_TOLERANCE_M)
}

/// How far outside each other's circle two fits of one object may be, m.
const DISJOINT_TOLERANCE_M: f64 = 0.1;

/// Distance between an obstacle's centre and a point, horizontal unless
/// both are spheres.
fn gap(o: &Obstacle, p: &Vector3<f64>, shape: ObstacleShape) -> f64 {
    match (o.shape, shape) {
        (ObstacleShape::Sphere, ObstacleShape::Sphere) => (o.position_m - p).norm(),
        _ => (o.position_m.xy() - p.xy()).norm(),
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
#[path = "obstacles_tests.rs"]
mod tests;
