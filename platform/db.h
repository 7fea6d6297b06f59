#pragma once
// The platform's one SQL layer: a connection to SQLite (embedded, the
// default) or PostgreSQL (fleets), prepared statements with `?` placeholders
// (rewritten to $n for PostgreSQL), rows as text, and the numbered migrations
// both backends share. Nothing outside db.cpp and store.cpp writes SQL.
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace tapsense::platform {

struct db_error : std::runtime_error {
  db_error(const std::string& what, bool constraint_violation)
      : std::runtime_error(what), constraint(constraint_violation) {}
  bool constraint;  // a UNIQUE/PRIMARY KEY/FOREIGN KEY violation
};

using sql_value = std::variant<std::monostate, std::int64_t, std::string>;

// One result row; every column as text (NULL: nullopt).
struct sql_row {
  std::vector<std::optional<std::string>> cols;
  std::string str(std::size_t i) const { return i < cols.size() && cols[i] ? *cols[i] : std::string(); }
  std::int64_t i64(std::size_t i) const;
  bool null(std::size_t i) const { return i >= cols.size() || !cols[i]; }
};

class db {
 public:
  enum class dialect { sqlite, postgres };
  virtual ~db() = default;
  virtual dialect kind() const = 0;
  // Runs one statement; throws db_error.
  virtual std::vector<sql_row> query(std::string_view sql, const std::vector<sql_value>& params = {}) = 0;
  void exec(std::string_view sql, const std::vector<sql_value>& params = {}) { query(sql, params); }
  std::optional<sql_row> one(std::string_view sql, const std::vector<sql_value>& params = {});
  virtual void begin() = 0;
  virtual void commit() = 0;
  virtual void rollback() = 0;
};

// Opens `url` ("postgresql://..." or "postgres://...") or, when it is empty,
// DIR/platform.db, and applies the migrations it has not seen yet.
std::unique_ptr<db> open_db(const std::string& url, const std::string& data_dir);

// The schema version open_db() leaves (the last migration's number).
int schema_version();

// One transaction; rolls back unless commit() ran.
class transaction {
 public:
  explicit transaction(db& d) : d_(d) { d_.begin(); }
  ~transaction() {
    if (!done_) {
      try {
        d_.rollback();
      } catch (...) {
      }
    }
  }
  transaction(const transaction&) = delete;
  transaction& operator=(const transaction&) = delete;
  void commit() {
    d_.commit();
    done_ = true;
  }

 private:
  db& d_;
  bool done_ = false;
};

}  // namespace tapsense::platform
