-- qctl's broadcast signals (name "restart" holds the unix time of the last `qctl restart`).
CREATE TABLE IF NOT EXISTS `{{table}}` (
    `name` varchar(64) NOT NULL PRIMARY KEY,
    `value` varchar(255) NOT NULL,
    `updated_at` int unsigned NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
