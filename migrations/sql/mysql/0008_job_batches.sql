-- Laravel's job_batches table (`php artisan queue:batches-table`): one row per Bus::batch.
CREATE TABLE IF NOT EXISTS `{{table}}` (
    `id` varchar(255) NOT NULL PRIMARY KEY,
    `name` varchar(255) NOT NULL,
    `total_jobs` int NOT NULL,
    `pending_jobs` int NOT NULL,
    `failed_jobs` int NOT NULL,
    `failed_job_ids` text NOT NULL,
    `options` mediumtext NULL,
    `cancelled_at` int NULL,
    `created_at` int NOT NULL,
    `finished_at` int NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
