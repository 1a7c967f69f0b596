-- qctl's fleet state: live workers' entries (key "qctl:worker:{id}") and flags such as a queue's
-- pause, shaped like Laravel's cache table (expiration: the unix second the row stops counting).
CREATE TABLE IF NOT EXISTS `{{table}}` (
    `key` varchar(255) NOT NULL PRIMARY KEY,
    `value` mediumtext NOT NULL,
    `expiration` bigint NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
