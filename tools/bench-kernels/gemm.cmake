# Prompt-processing GEMM benchmark: AMX-BF16 tiles vs OpenBLAS sgemm, one thread and through a
# two-thread linear() prototype. Build the gemm_bench target explicitly.
find_package(benchmark REQUIRED)
add_executable(gemm_bench ${CMAKE_CURRENT_LIST_DIR}/gemm_bench.cpp)
target_include_directories(gemm_bench PRIVATE ${PROJECT_SOURCE_DIR})
target_link_libraries(gemm_bench PRIVATE engine_internal benchmark::benchmark PkgConfig::OPENBLAS)
