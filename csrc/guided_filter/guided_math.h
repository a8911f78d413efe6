// Per-pixel math of the guided filter (He et al. 2013, eq. 5-6 and 14),
// shared by the CPU and CUDA kernels.
#pragma once
#include "common/host_device.h"

namespace mfif {

// Gray guide: a = cov(I, p) / (var(I) + eps), b = mean(p) - a mean(I).
MFIF_HOST_DEVICE void gray_coefficients(double mean_i, double corr_ii, double mean_p, double corr_ip,
                                        double eps, double& a, double& b) {
  const double var_i = corr_ii - mean_i * mean_i;
  const double cov_ip = corr_ip - mean_i * mean_p;
  a = cov_ip / (var_i + eps);
  b = mean_p - a * mean_i;
}

// Colour guide: the inverse of Sigma + eps*Id, where Sigma is the 3x3
// covariance of the guide in the window. corr_ii holds the window means of
// I_i*I_j for (i,j) = 00, 01, 02, 11, 12, 22; inv receives the inverse in the
// same symmetric order.
MFIF_HOST_DEVICE void color_inverse(const double mean_i[3], const double corr_ii[6], double eps,
                                    double inv[6]) {
  const double s00 = corr_ii[0] - mean_i[0] * mean_i[0] + eps;
  const double s01 = corr_ii[1] - mean_i[0] * mean_i[1];
  const double s02 = corr_ii[2] - mean_i[0] * mean_i[2];
  const double s11 = corr_ii[3] - mean_i[1] * mean_i[1] + eps;
  const double s12 = corr_ii[4] - mean_i[1] * mean_i[2];
  const double s22 = corr_ii[5] - mean_i[2] * mean_i[2] + eps;
  // cofactors of the symmetric matrix
  const double c00 = s11 * s22 - s12 * s12;
  const double c01 = s02 * s12 - s01 * s22;
  const double c02 = s01 * s12 - s02 * s11;
  const double c11 = s00 * s22 - s02 * s02;
  const double c12 = s01 * s02 - s00 * s12;
  const double c22 = s00 * s11 - s01 * s01;
  const double inv_det = 1.0 / (s00 * c00 + s01 * c01 + s02 * c02);
  inv[0] = c00 * inv_det;
  inv[1] = c01 * inv_det;
  inv[2] = c02 * inv_det;
  inv[3] = c11 * inv_det;
  inv[4] = c12 * inv_det;
  inv[5] = c22 * inv_det;
}

// a = (Sigma + eps Id)^-1 cov(I, p), b = mean(p) - a . mean(I).
MFIF_HOST_DEVICE void color_coefficients(const double mean_i[3], const double inv[6], double mean_p,
                                         const double corr_ip[3], double a[3], double& b) {
  const double v0 = corr_ip[0] - mean_i[0] * mean_p;
  const double v1 = corr_ip[1] - mean_i[1] * mean_p;
  const double v2 = corr_ip[2] - mean_i[2] * mean_p;
  a[0] = inv[0] * v0 + inv[1] * v1 + inv[2] * v2;
  a[1] = inv[1] * v0 + inv[3] * v1 + inv[4] * v2;
  a[2] = inv[2] * v0 + inv[4] * v1 + inv[5] * v2;
  b = mean_p - (a[0] * mean_i[0] + a[1] * mean_i[1] + a[2] * mean_i[2]);
}

}  // namespace mfif
