//! Clustering a frame's points on the grid and fitting each cluster
//! with a circle (or a sphere): the rows' extents, the surfaces a
//! cluster splits into, the circle through each.

use nalgebra::Vector3;
use recede_msg::ObstacleShape;

use super::{
    half_step, horizontal_range, relative_bearing, Detection, ObstacleMapper, Pt, SURFACE_JUMP_M,
    SURFACE_JUMP_PER_M,
};

/// A ridge of range this much (plus [`RIDGE_PER_M`] per metre) above the
/// dips on both sides parts two round surfaces, m.
const RIDGE_M: f64 = 0.05;
const RIDGE_PER_M: f64 = 0.005;

/// The points of one cluster within one bearing step: how many, their
/// bearings' extent, the nearest range.
#[derive(Debug, Clone, Copy)]
pub(super) struct Bin {
    count: u32,
    lo: f64,
    hi: f64,
    near: f64,
}

impl Bin {
    pub(super) const EMPTY: Self = Self {
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

impl ObstacleMapper {
    /// Clusters the frame's points and fits them, seen from `eye`;
    /// `angular_resolution_rad` is the angle between neighbouring samples.
    pub(super) fn fit(&mut self, eye: &Vector3<f64>, angular_resolution_rad: f64) {
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
    pub(super) fn fill_half_steps(&mut self) {
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
}
