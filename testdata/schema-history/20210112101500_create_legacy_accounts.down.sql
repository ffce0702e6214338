DROP TABLE "legacy;accounts";
