use nalgebra::{Point3, Vector3};

use super::ray::{Aabb, Hit, Ray};

/// A turn about the vertical axis, with its sine and cosine kept.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Yaw {
    pub rad: f64,
    sin: f64,
    cos: f64,
}

impl Yaw {
    pub fn new(rad: f64) -> Self {
        let (sin, cos) = rad.sin_cos();
        Self { rad, sin, cos }
    }

    pub fn zero() -> Self {
        Self::new(0.0)
    }
}

/// A solid primitive, placed in the world frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Shape {
    /// A box turned by `yaw` about the vertical axis through its centre.
    Box {
        center: Point3<f64>,
        half_extents: Vector3<f64>,
        yaw: Yaw,
    },
    /// An upright cylinder (axis along world z) centred at `center`.
    Cylinder {
        center: Point3<f64>,
        radius: f64,
        half_height: f64,
    },
    Sphere {
        center: Point3<f64>,
        radius: f64,
    },
}

impl Shape {
    pub fn center(&self) -> Point3<f64> {
        match *self {
            Shape::Box { center, .. }
            | Shape::Cylinder { center, .. }
            | Shape::Sphere { center, .. } => center,
        }
    }

    pub fn set_center(&mut self, c: Point3<f64>) {
        match self {
            Shape::Box { center, .. }
            | Shape::Cylinder { center, .. }
            | Shape::Sphere { center, .. } => *center = c,
        }
    }

    pub fn aabb(&self) -> Aabb {
        let (c, h) = match *self {
            Shape::Box {
                center,
                half_extents,
                yaw,
            } => {
                let (s, co) = (yaw.sin, yaw.cos);
                let hx = (co * half_extents.x).abs() + (s * half_extents.y).abs();
                let hy = (s * half_extents.x).abs() + (co * half_extents.y).abs();
                (center, Vector3::new(hx, hy, half_extents.z))
            }
            Shape::Cylinder {
                center,
                radius,
                half_height,
            } => (center, Vector3::new(radius, radius, half_height)),
            Shape::Sphere { center, radius } => (center, Vector3::repeat(radius)),
        };
        Aabb {
            min: c - h,
            max: c + h,
        }
    }

    /// The nearest hit with `t` in `(0, t_max)`, from outside the solid.
    #[inline]
    pub fn intersect(&self, ray: &Ray, t_max: f64) -> Option<Hit> {
        match *self {
            Shape::Sphere { center, radius } => sphere(ray, center, radius, t_max),
            Shape::Box {
                center,
                half_extents,
                yaw,
            } => oriented_box(ray, center, half_extents, yaw, t_max),
            Shape::Cylinder {
                center,
                radius,
                half_height,
            } => cylinder(ray, center, radius, half_height, t_max),
        }
    }

    /// Signed distance from `p` to the surface: positive outside, negative
    /// inside, m.
    pub fn signed_distance(&self, p: &Point3<f64>) -> f64 {
        match *self {
            Shape::Sphere { center, radius } => (p - center).norm() - radius,
            Shape::Box {
                center,
                half_extents,
                yaw,
            } => {
                let local = rotate_local(yaw, p - center);
                box_sdf(local, half_extents)
            }
            Shape::Cylinder {
                center,
                radius,
                half_height,
            } => {
                let d = p - center;
                let radial = (d.x * d.x + d.y * d.y).sqrt() - radius;
                let axial = d.z.abs() - half_height;
                let outside = (radial.max(0.0).powi(2) + axial.max(0.0).powi(2)).sqrt();
                outside + radial.max(axial).min(0.0)
            }
        }
    }
}

#[inline]
fn rotate_local(y: Yaw, v: Vector3<f64>) -> Vector3<f64> {
    Vector3::new(y.cos * v.x + y.sin * v.y, -y.sin * v.x + y.cos * v.y, v.z)
}

#[inline]
fn rotate_world(y: Yaw, v: Vector3<f64>) -> Vector3<f64> {
    Vector3::new(y.cos * v.x - y.sin * v.y, y.sin * v.x + y.cos * v.y, v.z)
}

fn box_sdf(local: Vector3<f64>, h: Vector3<f64>) -> f64 {
    let q = local.abs() - h;
    let outside = q.map(|v| v.max(0.0)).norm();
    outside + q.x.max(q.y).max(q.z).min(0.0)
}

fn sphere(ray: &Ray, center: Point3<f64>, radius: f64, t_max: f64) -> Option<Hit> {
    let oc = ray.origin - center;
    let b = oc.dot(&ray.dir);
    let c = oc.norm_squared() - radius * radius;
    let disc = b * b - c;
    if disc < 0.0 {
        return None;
    }
    let t = -b - disc.sqrt();
    if t <= 0.0 || t >= t_max {
        return None;
    }
    let normal = (ray.at(t) - center) / radius;
    Some(Hit { t, normal })
}

fn oriented_box(
    ray: &Ray,
    center: Point3<f64>,
    h: Vector3<f64>,
    yaw: Yaw,
    t_max: f64,
) -> Option<Hit> {
    let o = rotate_local(yaw, ray.origin - center);
    let d = rotate_local(yaw, ray.dir);
    let mut t0 = f64::NEG_INFINITY;
    let mut t1 = f64::INFINITY;
    let mut axis = 0;
    let mut sign = 1.0;
    for a in 0..3 {
        if d[a] == 0.0 {
            if o[a].abs() > h[a] {
                return None;
            }
            continue;
        }
        let inv = 1.0 / d[a];
        let ta = (-h[a] - o[a]) * inv;
        let tb = (h[a] - o[a]) * inv;
        let (near, far, s) = if ta < tb {
            (ta, tb, -1.0)
        } else {
            (tb, ta, 1.0)
        };
        if near > t0 {
            t0 = near;
            axis = a;
            sign = s;
        }
        t1 = t1.min(far);
    }
    if t0 > t1 || t0 <= 0.0 || t0 >= t_max {
        return None;
    }
    let mut n = Vector3::zeros();
    n[axis] = sign;
    Some(Hit {
        t: t0,
        normal: rotate_world(yaw, n),
    })
}

fn cylinder(
    ray: &Ray,
    center: Point3<f64>,
    radius: f64,
    half_height: f64,
    t_max: f64,
) -> Option<Hit> {
    let o = ray.origin - center;
    let d = ray.dir;
    let mut best: Option<Hit> = None;
    // Side: (o + t d)_xy on the circle.
    let a = d.x * d.x + d.y * d.y;
    if a > 0.0 {
        let b = o.x * d.x + o.y * d.y;
        let c = o.x * o.x + o.y * o.y - radius * radius;
        let disc = b * b - a * c;
        if disc >= 0.0 {
            let t = (-b - disc.sqrt()) / a;
            let z = o.z + t * d.z;
            if t > 0.0 && t < t_max && z.abs() <= half_height {
                let p = o + d * t;
                best = Some(Hit {
                    t,
                    normal: Vector3::new(p.x, p.y, 0.0) / radius,
                });
            }
        }
    }
    // Caps.
    if d.z != 0.0 {
        for (zc, nz) in [(half_height, 1.0), (-half_height, -1.0)] {
            let t = (zc - o.z) / d.z;
            if t <= 0.0 || t >= best.map_or(t_max, |h| h.t) {
                continue;
            }
            let p = o + d * t;
            if p.x * p.x + p.y * p.y <= radius * radius && d.z * nz < 0.0 {
                best = Some(Hit {
                    t,
                    normal: Vector3::new(0.0, 0.0, nz),
                });
            }
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ray_x() -> Ray {
        Ray::new(Point3::new(-5.0, 0.0, 0.0), Vector3::x())
    }

    #[test]
    fn each_shape_is_hit_at_its_near_surface() {
        let s = Shape::Sphere {
            center: Point3::origin(),
            radius: 1.0,
        };
        let b = Shape::Box {
            center: Point3::origin(),
            half_extents: Vector3::new(1.0, 2.0, 3.0),
            yaw: Yaw::zero(),
        };
        let c = Shape::Cylinder {
            center: Point3::origin(),
            radius: 1.0,
            half_height: 1.0,
        };
        for shape in [s, b, c] {
            let hit = shape.intersect(&ray_x(), 100.0).expect("hit");
            assert!((hit.t - 4.0).abs() < 1e-12, "{shape:?}: {hit:?}");
            assert!((hit.normal - Vector3::new(-1.0, 0.0, 0.0)).norm() < 1e-12);
            assert!(shape.intersect(&ray_x(), 3.9).is_none());
            assert!((shape.signed_distance(&Point3::new(-3.0, 0.0, 0.0)) - 2.0).abs() < 1e-12);
            assert!(shape.signed_distance(&Point3::origin()) < 0.0);
        }
    }

    #[test]
    fn turned_box_and_cylinder_cap() {
        let b = Shape::Box {
            center: Point3::origin(),
            half_extents: Vector3::new(1.0, 1.0, 1.0),
            yaw: Yaw::new(std::f64::consts::FRAC_PI_4),
        };
        let hit = b.intersect(&ray_x(), 100.0).expect("hit");
        assert!((hit.t - (5.0 - 2f64.sqrt())).abs() < 1e-12);
        let c = Shape::Cylinder {
            center: Point3::origin(),
            radius: 1.0,
            half_height: 0.5,
        };
        let down = Ray::new(Point3::new(0.2, 0.0, 3.0), -Vector3::z());
        let hit = c.intersect(&down, 100.0).expect("cap");
        assert!((hit.t - 2.5).abs() < 1e-12 && hit.normal.z == 1.0);
        let aabb = b.aabb();
        assert!((aabb.max.x - 2f64.sqrt()).abs() < 1e-12);
    }
}
