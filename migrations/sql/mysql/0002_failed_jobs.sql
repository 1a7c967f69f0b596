-- Laravel's failed_jobs table; failed_at is indexed for listing the newest first.
CREATE TABLE IF NOT EXISTS `{{table}}` (
    `id` bigint unsigned NOT NULL AUTO_INCREMENT PRIMARY KEY,
    `uuid` varchar(255) NOT NULL,
    `connection` text NOT NULL,
    `queue` text NOT NULL,
    `payload` longtext NOT NULL,
    `exception` longtext NOT NULL,
    `failed_at` timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP,
    UNIQUE KEY `{{table}}_uuid_unique` (`uuid`),
    KEY `{{table}}_failed_at_index` (`failed_at`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
