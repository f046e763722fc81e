//! A planar discretised Kirchhoff rod (inextensible, unshearable Cosserat
//! rod) clamped at its base: the continuum arm's true plant.
//!
//! `n` elements of length `l`; each concentrates its bending at a hinge at
//! its midpoint (arc `(k + 1/2) l`) of stiffness `EI / l` and Kelvin-Voigt
//! damping `tau EI / l`. Midpoint hinges make the bending energy the
//! midpoint rule of `int EI kappa^2 / 2`, so a tip-loaded cantilever bends
//! to `F L^3 / 3EI (1 - 1 / 4n^2)`. The rigid pieces between hinges carry
//! the rod's mass (uniform rods, with their slices' rotary inertia) and the
//! payload sits at the tip. Coordinates are the hinges' relative angles.
//!
//! **Integration: linearly implicit (IMEX).** The bending forces are
//! linear in the hinge angles and stiff (the 24-element default arm's
//! zigzag mode is ~4e3 rad/s, and Kelvin-Voigt damping puts its decay at
//! `tau omega^2`, ~1e5 1/s), while gravity, inertia coupling and the
//! tendons are slow. So the stiffness is taken trapezoidally (A-stable:
//! undamped linear modes keep their energy), the damping by implicit Euler
//! (L-stable: a trapezoid left the over-damped zigzag modes flipping sign
//! each step at |factor| 0.97, and the explicit velocity products pumped
//! them until the run blew up), the rest explicitly at the step's start
//! with the mass matrix frozen there: one symmetric positive definite
//! solve per step,
//! `(M + h D + h^2/4 K) v+ = M v + h (f - K q) - h^2/4 K v`,
//! `q+ = q + h (v + v+) / 2`. The step is set by the slow modes' accuracy
//! (tens of rad/s), not by stability; explicit RK4 would need |lambda| h
//! <= 2.8, about 60 substeps per millisecond.

use nalgebra::Vector2;
use recede_model::robots::ContinuumArmParams;
use recede_model::GRAVITY;

type V2 = Vector2<f64>;

/// The most tendon sections a rod is routed for.
pub const MAX_SECTIONS: usize = 8;

fn cross(a: V2, b: V2) -> f64 {
    a.x * b.y - a.y * b.x
}

fn tangent(angle: f64) -> V2 {
    V2::new(angle.cos(), angle.sin())
}

/// The rod's state and the workspace of its step, sized once at build.
#[derive(Debug, Clone)]
pub struct Rod {
    pub params: ContinuumArmParams,
    /// Sections of the tendon routing (each `n / sections` elements).
    sections: usize,
    element_m: f64,
    retardation_secs: f64,
    /// Hinge angles (relative, base to tip) and their rates.
    pub q: Vec<f64>,
    pub qd: Vec<f64>,
    // Workspace, one entry per hinge (matrices row-major n x n).
    hinge: Vec<V2>,
    centre: Vec<V2>,
    mass: Vec<f64>,
    rhs: Vec<f64>,
    accel: Vec<V2>,
}

/// What the kinematics pass leaves in the workspace.
#[derive(Debug, Clone, Copy, Default)]
pub struct Tip {
    pub position: V2,
    pub angle: f64,
    pub velocity: V2,
    pub angle_rate: f64,
}

impl Rod {
    /// A straight rod at rest of `elements` elements (a multiple of
    /// `sections`).
    pub fn new(
        params: ContinuumArmParams,
        elements: usize,
        sections: usize,
        retardation_secs: f64,
    ) -> Self {
        let n = elements;
        Self {
            params,
            sections,
            element_m: params.length_m / n as f64,
            retardation_secs,
            q: vec![0.0; n],
            qd: vec![0.0; n],
            hinge: vec![V2::zeros(); n],
            centre: vec![V2::zeros(); n],
            mass: vec![0.0; n * n],
            rhs: vec![0.0; n],
            accel: vec![V2::zeros(); n],
        }
    }

    pub fn elements(&self) -> usize {
        self.q.len()
    }

    /// The section hinge `k` belongs to.
    pub fn section_of(&self, k: usize) -> usize {
        k * self.sections / self.q.len()
    }

    /// Hinge stiffness, N m / rad.
    fn stiffness(&self) -> f64 {
        self.params.bending_stiffness_n_m2 / self.element_m
    }

    /// Length of the rigid piece distal to hinge `k`.
    fn piece(&self, k: usize) -> f64 {
        if k + 1 == self.q.len() {
            0.5 * self.element_m
        } else {
            self.element_m
        }
    }

    fn piece_mass(&self, k: usize) -> f64 {
        self.params.mass_kg / self.params.length_m * self.piece(k)
    }

    fn piece_inertia(&self, k: usize) -> f64 {
        let (m, len, r) = (self.piece_mass(k), self.piece(k), self.params.radius_m);
        m * (len * len / 12.0 + 0.25 * r * r)
    }

    /// Positions of hinges, piece centres and tip, and the velocity-product
    /// accelerations of the piece centres (in `accel`) and the tip.
    fn kinematics(&mut self) -> (Tip, V2) {
        let n = self.q.len();
        let l = self.element_m;
        let base_angle = self.params.base_angle_rad;
        let mut r = tangent(base_angle) * (0.5 * l);
        let mut v = V2::zeros();
        let mut a_bias = V2::zeros();
        let (mut angle, mut w) = (base_angle, 0.0);
        for k in 0..n {
            angle += self.q[k];
            w += self.qd[k];
            let t = tangent(angle);
            let half = t * (0.5 * self.piece(k));
            self.hinge[k] = r;
            self.centre[k] = r + half;
            self.accel[k] = a_bias - half * (w * w);
            let next = t * self.piece(k);
            r += next;
            v += V2::new(-next.y, next.x) * w;
            a_bias -= next * (w * w);
        }
        (
            Tip {
                position: r,
                angle,
                velocity: v,
                angle_rate: w,
            },
            a_bias,
        )
    }

    /// Fills `mass` (n x n) and `rhs` with `f - K q`, where `f` holds the
    /// tendons, the tip force and minus the gravity and velocity-product
    /// terms (damping is the step's). Returns the tip's kinematics.
    fn assemble(&mut self, tensions: &[f64], payload_kg: f64, tip_force: V2) -> Tip {
        let n = self.q.len();
        let (tip, tip_bias) = self.kinematics();
        let g = V2::new(0.0, GRAVITY);
        // Suffix sums over the points distal to hinge k: mass, first
        // moment, second moment plus rotary inertia, force and its moment.
        let (mut sm, mut sp, mut sq) = (0.0, V2::zeros(), 0.0);
        let (mut sf, mut smf) = (V2::zeros(), 0.0);
        let tip_load = (tip_bias + g) * payload_kg - tip_force;
        sm += payload_kg;
        sp += tip.position * payload_kg;
        sq += payload_kg * tip.position.norm_squared();
        sf += tip_load;
        smf += cross(tip.position, tip_load);
        let k_bend = self.stiffness();
        let mut moment = 0.0;
        let mut section = self.sections;
        for k in (0..n).rev() {
            let m = self.piece_mass(k);
            let c = self.centre[k];
            let f = (self.accel[k] + g) * m;
            sm += m;
            sp += c * m;
            sq += m * c.norm_squared() + self.piece_inertia(k);
            sf += f;
            smf += cross(c, f);
            self.rhs[k] = -(smf - cross(self.hinge[k], sf));
            // Tendon pairs of sections >= this hinge's act on it.
            while section > self.section_of(k) {
                section -= 1;
                moment += (tensions[2 * section] - tensions[2 * section + 1])
                    * self.params.tendon_offset_m;
            }
            self.rhs[k] += moment - k_bend * self.q[k];
            // M_ij for i, j <= k with max(i, j) = k.
            for i in 0..=k {
                let ri = self.hinge[i];
                let rk = self.hinge[k];
                let v = sq - sp.dot(&(ri + rk)) + sm * ri.dot(&rk);
                self.mass[i * n + k] = v;
                self.mass[k * n + i] = v;
            }
        }
        tip
    }

    /// Kinetic, gravitational and bending energy, J.
    pub fn energy(&mut self, payload_kg: f64) -> f64 {
        let n = self.q.len();
        let tip = self.assemble(&[0.0; 2 * MAX_SECTIONS], payload_kg, V2::zeros());
        let mut kinetic = 0.0;
        for i in 0..n {
            for j in 0..n {
                kinetic += 0.5 * self.qd[i] * self.mass[i * n + j] * self.qd[j];
            }
        }
        let mut potential = payload_kg * GRAVITY * tip.position.y;
        for k in 0..n {
            potential += self.piece_mass(k) * GRAVITY * self.centre[k].y;
            potential += 0.5 * self.stiffness() * self.q[k] * self.q[k];
        }
        kinetic + potential
    }

    /// The static residual `f - K q` at the present angles (rates taken as
    /// they are: zero for statics), hinge by hinge: what a static
    /// equilibrium zeroes.
    pub fn static_residual(&mut self, tensions: &[f64], payload_kg: f64, tip_force: V2) -> &[f64] {
        self.assemble(tensions, payload_kg, tip_force);
        &self.rhs
    }

    /// The tip's pose and motion now.
    pub fn tip(&mut self) -> Tip {
        self.kinematics().0
    }

    /// One linearly implicit trapezoidal step of `h` seconds; false when
    /// the mass matrix was not positive definite (a non-finite state).
    pub fn step(&mut self, h: f64, tensions: &[f64], payload_kg: f64, tip_force: V2) -> bool {
        let n = self.q.len();
        self.assemble(tensions, payload_kg, tip_force);
        let k_bend = self.stiffness();
        let d_bend = k_bend * self.retardation_secs;
        let half_k = 0.25 * h * h * k_bend;
        // rhs := M v + h (f - K q) - h^2/4 K v; mass := M + h D + h^2/4 K.
        for i in 0..n {
            let mv: f64 = (0..n).map(|j| self.mass[i * n + j] * self.qd[j]).sum();
            self.rhs[i] = mv + h * self.rhs[i] - half_k * self.qd[i];
            self.mass[i * n + i] += h * d_bend + half_k;
        }
        if !cholesky_solve(&mut self.mass, &mut self.rhs, n) {
            return false;
        }
        for k in 0..n {
            let v_next = self.rhs[k];
            self.q[k] += 0.5 * h * (self.qd[k] + v_next);
            self.qd[k] = v_next;
        }
        true
    }

    /// Section curvatures and rates seen as piecewise constant curvature:
    /// each section's tangent-angle change over its length (the L2 fit of
    /// the rod's curvature by one constant per section).
    pub fn pcc_view(&self, kappa: &mut [f64], rate: &mut [f64]) {
        kappa.fill(0.0);
        rate.fill(0.0);
        let section_m = self.params.length_m / self.sections as f64;
        for k in 0..self.q.len() {
            let j = self.section_of(k);
            kappa[j] += self.q[k] / section_m;
            rate[j] += self.qd[k] / section_m;
        }
    }

    /// Puts every hinge of section `j` at `kappa_j l` (and its rate): the
    /// PCC state lifted onto the rod.
    pub fn set_pcc(&mut self, kappa: &[f64], rate: &[f64]) {
        let l = self.element_m;
        for k in 0..self.q.len() {
            let j = self.section_of(k);
            self.q[k] = kappa[j] * l;
            self.qd[k] = rate[j] * l;
        }
    }

    /// The hinges' positions, world `(x, z)`, as the last kinematics pass
    /// (`tip`, `step`) left them: the recording's shape without a copy.
    pub fn hinges(&self) -> &[V2] {
        &self.hinge
    }

    /// Points along the centre line, base to tip (hinges, then the tip).
    pub fn centre_line(&mut self, out: &mut Vec<[f64; 2]>) {
        let tip = self.tip();
        out.push([0.0, 0.0]);
        out.extend(self.hinge.iter().map(|r| [r.x, r.y]));
        out.push([tip.position.x, tip.position.y]);
    }
}

/// Solves `A x = b` in place (`A` symmetric positive definite, row-major
/// `n x n`, overwritten by its Cholesky factor; `b` by `x`).
fn cholesky_solve(a: &mut [f64], b: &mut [f64], n: usize) -> bool {
    for j in 0..n {
        let mut d = a[j * n + j];
        for k in 0..j {
            d -= a[j * n + k] * a[j * n + k];
        }
        if !(d > 0.0 && d.is_finite()) {
            return false;
        }
        let ljj = d.sqrt();
        a[j * n + j] = ljj;
        for i in j + 1..n {
            let mut s = a[i * n + j];
            for k in 0..j {
                s -= a[i * n + k] * a[j * n + k];
            }
            a[i * n + j] = s / ljj;
        }
    }
    for i in 0..n {
        let mut s = b[i];
        for k in 0..i {
            s -= a[i * n + k] * b[k];
        }
        b[i] = s / a[i * n + i];
    }
    for i in (0..n).rev() {
        let mut s = b[i];
        for k in i + 1..n {
            s -= a[k * n + i] * b[k];
        }
        b[i] = s / a[i * n + i];
    }
    true
}
