// status_macros.h: early return on error, for every package.
//
//   HECATE_RETURN_IF_ERROR(WriteFile(path, bytes));
//   HECATE_ASSIGN_OR_RETURN(std::string text, ReadFile(path));
//   HECATE_ASSIGN_OR_RETURN(auto model, LoadModel(name, seed));
//
// HECATE_RETURN_IF_ERROR returns a non-OK absl::Status from the enclosing
// function (which returns absl::Status or absl::StatusOr<T>).
// HECATE_ASSIGN_OR_RETURN evaluates an absl::StatusOr<T> once; on error it
// returns the status, else it moves the value into `lhs` (a declaration or an
// existing variable). One per line: it declares a hidden temporary named
// after the line.
#ifndef HECATE_BASE_STATUS_MACROS_H_
#define HECATE_BASE_STATUS_MACROS_H_

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define HECATE_RETURN_IF_ERROR(expr)                 \
  do {                                               \
    ::absl::Status hecate_status_ = (expr);          \
    if (!hecate_status_.ok()) return hecate_status_; \
  } while (0)

#define HECATE_STATUS_MACROS_CONCAT_INNER(a, b) a##b
#define HECATE_STATUS_MACROS_CONCAT(a, b) HECATE_STATUS_MACROS_CONCAT_INNER(a, b)

#define HECATE_ASSIGN_OR_RETURN(lhs, expr) \
  HECATE_ASSIGN_OR_RETURN_IMPL(HECATE_STATUS_MACROS_CONCAT(hecate_statusor_, __LINE__), lhs, expr)

#define HECATE_ASSIGN_OR_RETURN_IMPL(statusor, lhs, expr) \
  auto statusor = (expr);                                 \
  if (!statusor.ok()) return std::move(statusor).status(); \
  lhs = std::move(statusor).value()

#endif  // HECATE_BASE_STATUS_MACROS_H_
